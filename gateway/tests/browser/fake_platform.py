"""An in-memory stand-in for the four services, to develop the page and its browser test without them.

    python -m tests.browser.fake_platform --port 8100       (from gateway/), then start the dev gateway with
    AUTH_SERVICE_URL=http://127.0.0.1:8100 (and POLLS_, CHOICE_, VOTE_) and browse http://127.0.0.1:8000/.

Like the real platform, the choice and vote services know a poll created a moment ago (they wait for it).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import uvicorn

Json = dict[str, Any]


class Failure(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class Platform:
    users: dict[str, Json] = field(default_factory=dict)
    polls: dict[int, Json] = field(default_factory=dict)
    choices: dict[int, Json] = field(default_factory=dict)
    votes: dict[tuple[int, int], int] = field(default_factory=dict)  # (poll, voter) -> choice
    refresh_tokens: dict[str, int] = field(default_factory=dict)  # the live ones -> their user
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def user_of(self, headers: dict[str, str]) -> Json:
        token = headers.get("authorization", "").removeprefix("Bearer ")
        user = next((u for u in self.users.values() if f"access-{u['id']}" == token), None)
        if user is None:
            raise Failure(401, "not_authenticated", "Log in first.")
        return user

    def session_start(self, user_id: int) -> Json:
        refresh = f"refresh-{user_id}-{next(self.ids)}"
        self.refresh_tokens[refresh] = user_id
        return {"access": f"access-{user_id}", "refresh": refresh}

    def refresh_of(self, body: Json) -> str:
        if body.get("refresh") not in self.refresh_tokens:
            raise Failure(401, "invalid_token", "This session has ended (logged out, or revoked): log in again.")
        return str(body["refresh"])

    def poll(self, poll_id: int) -> Json:
        if poll_id not in self.polls:
            raise Failure(404, "not_found", "No such poll.")
        return self.polls[poll_id]

    def handle(self, method: str, path: str, query: dict[str, str], body: Json, headers: dict[str, str]) -> tuple[int, Any]:
        answer = self._session(method, path, body)
        if answer is not None:
            return answer
        # As the services: every write, and who-am-I, needs a signed-in caller, before the route is even looked up.
        user = self.user_of(headers) if method == "POST" or path == "/api/auth/me/" else None
        answer = (self._me(path, user) or self._polls(method, path, body, user) or self._choices(method, path, query, body)
                  or self._votes(method, path, body, user))
        if answer is None:
            raise Failure(404, "not_found", "Not found.")
        return answer

    def _session(self, method: str, path: str, body: Json) -> tuple[int, Any] | None:
        if (method, path) == ("POST", "/api/auth/register/"):
            if body["username"] in self.users:
                raise Failure(409, "username_taken", "That username is taken.")
            self.users[body["username"]] = {"id": next(self.ids), "username": body["username"], "password": body["password"]}
            return 201, {"id": self.users[body["username"]]["id"], "username": body["username"]}
        if (method, path) == ("POST", "/api/auth/token/"):
            user = self.users.get(body.get("username", ""))
            if user is None or user["password"] != body.get("password"):
                raise Failure(401, "invalid_credentials", "Wrong username or password.")
            return 200, self.session_start(user["id"])
        if (method, path) == ("POST", "/api/auth/token/refresh/"):
            # Rotated, as auth-service does: the refresh token sent is honoured no more.
            return 200, self.session_start(self.refresh_tokens.pop(self.refresh_of(body)))
        if (method, path) == ("POST", "/api/auth/logout/"):
            self.refresh_tokens.pop(self.refresh_of(body))
            return 204, None
        return None

    @staticmethod
    def _me(path: str, user: Json | None) -> tuple[int, Any] | None:
        if path == "/api/auth/me/":
            return 200, {"id": user["id"], "username": user["username"]}  # type: ignore[index]
        return None

    def _polls(self, method: str, path: str, body: Json, user: Json | None) -> tuple[int, Any] | None:
        if (method, path) == ("GET", "/api/polls/"):
            results = sorted(self.polls.values(), key=lambda p: -p["id"])
            return 200, {"count": len(results), "next": None, "previous": None, "results": results}
        if (method, path) == ("POST", "/api/polls/"):
            poll = {"id": next(self.ids), "question": body["question"], "owner_id": user["id"], "status": "open",  # type: ignore[index]
                    "closes_at": None, "created_at": "2026-01-01T00:00:00Z", "total_votes": 0}
            self.polls[poll["id"]] = poll
            return 201, poll
        if match := re.fullmatch(r"/api/polls/(\d+)/", path):
            return 200, self.poll(int(match[1]))
        if (match := re.fullmatch(r"/api/polls/(\d+)/close/", path)) and method == "POST":
            self.poll(int(match[1]))["status"] = "closed"
            return 200, self.poll(int(match[1]))
        return None

    def _choices(self, method: str, path: str, query: dict[str, str], body: Json) -> tuple[int, Any] | None:
        if (method, path) == ("GET", "/api/choices/"):
            results = [c for c in self.choices.values() if c["poll_id"] == int(query["poll_id"])]
            return 200, {"count": len(results), "next": None, "previous": None, "results": results}
        if (method, path) == ("POST", "/api/choices/"):
            choice = {"id": next(self.ids), "poll_id": body["poll_id"], "text": body["text"]}
            self.choices[choice["id"]] = choice
            return 201, choice
        return None

    def _votes(self, method: str, path: str, body: Json, user: Json | None) -> tuple[int, Any] | None:
        if (method, path) == ("POST", "/api/votes/"):
            # Ids are numbers here; a client that read them from the page's attributes sends them as text.
            poll = self.poll(int(body["poll_id"]))
            if poll["status"] != "open":
                raise Failure(409, "poll_closed", "This poll is closed.")
            if (poll["id"], user["id"]) in self.votes:  # type: ignore[index]
                raise Failure(409, "already_voted", "You have already voted in this poll.")
            self.votes[(poll["id"], user["id"])] = int(body["choice_id"])  # type: ignore[index]
            poll["total_votes"] += 1
            return 201, {"poll_id": poll["id"], "choice_id": body["choice_id"], "voter_id": user["id"]}  # type: ignore[index]
        if match := re.fullmatch(r"/api/votes/results/(\d+)/", path):
            return 200, self.results(int(match[1]))
        return None

    def results(self, poll_id: int) -> Json:
        poll = self.poll(poll_id)
        counted = [{"choice_id": c["id"], "text": c["text"], "votes": list(self.votes.values()).count(c["id"])}
                   for c in self.choices.values() if c["poll_id"] == poll["id"]]
        return {"poll_id": poll["id"], "total": sum(c["votes"] for c in counted), "choices": counted}

    async def stream_results(self, poll_id: int, receive, send) -> None:
        """vote-service's results stream, as simply as can be: an event whenever the results differ."""
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
        gone = asyncio.ensure_future(receive())
        sent = None
        while not gone.done():
            results = json.dumps(self.results(poll_id))
            if results != sent:
                sent = results
                await send({"type": "http.response.body", "body": f"data: {results}\n\n".encode(), "more_body": True})
            await asyncio.sleep(0.05)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        raw = b""
        while True:
            message = await receive()
            raw += message.get("body", b"")
            if not message.get("more_body"):
                break
        if match := re.fullmatch(r"/api/votes/live/(\d+)/", scope["path"]):
            return await self.stream_results(int(match[1]), receive, send)
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        query = {k: v[0] for k, v in parse_qs(scope["query_string"].decode()).items()}
        try:
            status, answer = self.handle(scope["method"], scope["path"], query, json.loads(raw or b"{}"), headers)
        except Failure as failure:
            status, answer = failure.status, {"error": failure.code, "message": failure.message, "details": {}}
        body = b"" if answer is None else json.dumps(answer).encode()
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8100)
    uvicorn.run(Platform(), host="127.0.0.1", port=parser.parse_args().port, log_level="warning")
