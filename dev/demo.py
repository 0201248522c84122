"""Loads a few users, polls, choices and votes through the gateway: `python dev/demo.py http://127.0.0.1:8000`."""

from __future__ import annotations

import sys

import httpx

USERS = ["alice", "bob", "carol"]
PASSWORD = "demo-password-42"
POLLS = {
    "Which editor do you use?": ["Vim", "Emacs", "VS Code", "PyCharm"],
    "Tabs or spaces?": ["Tabs", "Spaces"],
}


def main(gateway: str) -> None:
    with httpx.Client(base_url=gateway, timeout=10) as client:
        tokens = {}
        for user in USERS:
            client.post("/api/auth/register/", json={"username": user, "password": PASSWORD})
            token = client.post("/api/auth/token/", json={"username": user, "password": PASSWORD}).json()["access"]
            tokens[user] = {"Authorization": f"Bearer {token}"}
        for question, choices in POLLS.items():
            poll = client.post("/api/polls/", json={"question": question}, headers=tokens["alice"]).json()
            choice_ids = []
            for text in choices:
                # choice-service and vote-service wait for a poll or choice created a moment ago: no retries.
                created = client.post("/api/choices/", json={"poll_id": poll["id"], "text": text}, headers=tokens["alice"])
                choice_ids.append(created.raise_for_status().json()["id"])
            for n, user in enumerate(USERS):
                vote = {"poll_id": poll["id"], "choice_id": choice_ids[n % len(choice_ids)]}
                client.post("/api/votes/", json=vote, headers=tokens[user]).raise_for_status()
            print(f"demo | poll {question!r} with {len(choices)} choices and {len(USERS)} votes")
        print(f"demo | users {', '.join(USERS)} share the password {PASSWORD!r}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000")
