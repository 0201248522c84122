"""`helm test`'s smoke walk through the gateway, from inside the cluster: register, token, poll, choice, vote,
results, close. Standard library only: it runs in any of the services' images."""
import json
import os
import sys
import time
import urllib.error
import urllib.request
import uuid

GATEWAY = os.environ["GATEWAY_URL"].rstrip("/")


def call(method, path, body=None, token=None):
    request = urllib.request.Request(GATEWAY + path, method=method, data=json.dumps(body).encode() if body else None)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def until(method, path, body=None, token=None, expect=(200, 201), timeout=60):
    """Projections catch up asynchronously, and a rollout may be under way: retry until the expected status."""
    deadline = time.monotonic() + timeout
    while True:
        status, answer = call(method, path, body, token)
        if status in expect:
            return answer
        if time.monotonic() > deadline:
            sys.exit(f"{method} {path}: {status} {answer}")
        time.sleep(1)


def user(name):
    credentials = {"username": f"{name}-{uuid.uuid4().hex[:8]}", "password": "a-long-password-42"}
    until("POST", "/api/auth/register/", credentials, expect=(201,))
    return until("POST", "/api/auth/token/", credentials)["access"]


until("GET", "/healthz")
alice, bob = user("smoke-alice"), user("smoke-bob")
poll = until("POST", "/api/polls/", {"question": "Smoke?"}, alice, expect=(201,))
choice = until("POST", "/api/choices/", {"poll_id": poll["id"], "text": "yes"}, alice, expect=(201,))
until("POST", "/api/votes/", {"poll_id": poll["id"], "choice_id": choice["id"]}, bob, expect=(201,))
results = until("GET", f"/api/votes/results/{poll['id']}/")
assert results["total"] == 1, results
until("POST", f"/api/polls/{poll['id']}/close/", token=alice)
print(f"smoke walk passed: poll {poll['id']}")
