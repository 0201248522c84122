"""Loads a few users, polls, choices and votes through the gateway: `python dev/demo.py http://127.0.0.1:8000`."""

from __future__ import annotations

import sys
import time

import httpx

USERS = ["alice", "bob", "carol"]
PASSWORD = "demo-password-42"
POLLS = {
    "Which editor do you use?": ["Vim", "Emacs", "VS Code", "PyCharm"],
    "Tabs or spaces?": ["Tabs", "Spaces"],
}


def until_known(send, attempts: int = 40):  # type: ignore[no-untyped-def]
    """Other services learn of a new poll through events: a 404 right after creating it means 'not yet'."""
    for _ in range(attempts):
        response = send()
        if response.status_code != 404:
            return response
        time.sleep(0.25)
    return response


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
                created = until_known(lambda: client.post("/api/choices/", json={"poll_id": poll["id"], "text": text}, headers=tokens["alice"]))
                choice_ids.append(created.json()["id"])
            for n, user in enumerate(USERS):
                vote = {"poll_id": poll["id"], "choice_id": choice_ids[n % len(choice_ids)]}
                until_known(lambda: client.post("/api/votes/", json=vote, headers=tokens[user]))
            print(f"demo | poll {question!r} with {len(choices)} choices and {len(USERS)} votes")
        print(f"demo | users {', '.join(USERS)} share the password {PASSWORD!r}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000")
