"""The platform end to end, through the gateway: four services, their relays and consumers, real PostgreSQL
(one database each) and real Kafka."""

import signal
import time
import uuid

import pytest

from tests.e2e.conftest import alive, descendants, eventually, interrupt, register_and_login


def test_register_poll_choices_vote_results_close(platform):
    with platform.client() as client:
        assert client.get("/healthz").status_code == 200
        suffix = uuid.uuid4().hex[:6]
        alice = register_and_login(client, f"alice-{suffix}")
        bob = register_and_login(client, f"bob-{suffix}")
        me = client.get("/api/auth/me/", headers=alice)
        assert me.status_code == 200 and me.json()["username"] == f"alice-{suffix}"
        assert client.get("/api/auth/jwks/").json()["keys"]

        poll = client.post("/api/polls/", json={"question": "Best broker?"}, headers=alice)
        assert poll.status_code == 201, poll.text
        poll_id = poll.json()["id"]
        assert poll.json()["status"] == "open" and poll.json()["owner_id"] == me.json()["id"]

        # choice-service and vote-service wait for a poll or choice created a moment ago: no retry is needed.
        choice_ids = []
        for text in ("Kafka", "Tansu"):
            choice = client.post("/api/choices/", json={"poll_id": poll_id, "text": text}, headers=alice)
            assert choice.status_code == 201, choice.text
            choice_ids.append(choice.json()["id"])
        listed = client.get("/api/choices/", params={"poll_id": poll_id})
        assert [c["text"] for c in _results(listed.json())] == ["Kafka", "Tansu"]

        vote = eventually(
            lambda: client.post("/api/votes/", json={"poll_id": poll_id, "choice_id": choice_ids[0]}, headers=bob),
            # vote-service learns of bob (a 401 until then) from events; the poll and its choices it waits for.
            until=lambda r: r.status_code != 401,
        )
        assert vote.status_code == 201, vote.text
        assert vote.json()["voter_id"] != me.json()["id"]

        again = client.post("/api/votes/", json={"poll_id": poll_id, "choice_id": choice_ids[1]}, headers=bob)
        assert again.status_code == 409 and again.json()["message"]

        results = client.get(f"/api/votes/results/{poll_id}/")
        assert results.status_code == 200
        assert results.json()["total"] == 1
        assert {c["choice_id"]: c["votes"] for c in results.json()["choices"]} == {choice_ids[0]: 1, choice_ids[1]: 0}

        total = eventually(lambda: client.get(f"/api/polls/{poll_id}/"), until=lambda r: r.json().get("total_votes") == 1)
        assert total.json()["total_votes"] == 1  # polls-service's projection of vote.cast

        closed = client.post(f"/api/polls/{poll_id}/close/", headers=alice)
        assert closed.status_code == 200, closed.text
        assert closed.json()["status"] == "closed"
        # Sent at once, before vote-service may have heard of the close: refused, or accepted and then voided
        # when the close arrives (a vote recorded after closed_at never counts). Either way it is never counted.
        late = client.post("/api/votes/", json={"poll_id": poll_id, "choice_id": choice_ids[1]}, headers=alice)
        assert late.status_code in (201, 409), late.text
        after_close = eventually(
            lambda: client.post("/api/votes/", json={"poll_id": poll_id, "choice_id": choice_ids[1]}, headers=alice),
            until=lambda r: r.status_code == 409,
        )
        assert after_close.status_code == 409 and after_close.json()["error"] in ("poll_closed", "already_voted")
        counted = eventually(lambda: client.get(f"/api/votes/results/{poll_id}/"), until=lambda r: r.json()["total"] == 1)
        assert {c["choice_id"]: c["votes"] for c in counted.json()["choices"]} == {choice_ids[0]: 1, choice_ids[1]: 0}
        total = eventually(lambda: client.get(f"/api/polls/{poll_id}/"), until=lambda r: r.json().get("total_votes") == 1)
        assert total.json()["total_votes"] == 1


def test_the_web_page_in_headless_chromium(platform):
    """The gateway's browser test, run against the real platform: register, poll, choices, vote, result."""
    import os
    import subprocess
    import sys

    from tests.e2e.conftest import ROOT

    browser = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/browser"],
        cwd=ROOT / "gateway", env={**os.environ, "GATEWAY_URL": platform.url}, capture_output=True, text=True,
    )
    assert browser.returncode == 0, browser.stdout[-4000:] + browser.stderr[-2000:]
    assert " passed" in browser.stdout and "skipped" not in browser.stdout


def test_vote_service_runs_on_python_3_13_and_django_6_1_beside_the_others_on_3_11_and_5_2(platform):
    """services.toml gives vote-service a Python of its own: its processes run from its own virtualenv (made by
    `make venv`, in the clean clone too), the others from the development virtualenv, in the same platform."""
    import os
    import subprocess
    from pathlib import Path

    stacks = {}
    for pid in descendants(platform.runner.pid):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
            folder = Path(os.readlink(f"/proc/{pid}/cwd"))
        except (FileNotFoundError, ProcessLookupError):
            continue
        if "uvicorn" in command and folder.name.endswith("-service"):
            stacks[folder.name] = subprocess.run(
                [command[0], "-c", "import sys, django; print('%d.%d' % sys.version_info[:2], django.get_version())"],
                cwd=folder, capture_output=True, text=True, check=True).stdout.split()
    assert set(stacks) == {"auth-service", "polls-service", "choice-service", "vote-service"}, stacks
    vote = stacks.pop("vote-service")
    assert vote[0] == "3.13" and vote[1].startswith("6.1"), vote
    assert all(python == "3.11" and django.startswith("5.2") for python, django in stacks.values()), stacks


def _results(body):
    return body["results"] if isinstance(body, dict) else body


@pytest.mark.stops_platform
def test_ctrl_c_stops_every_process_it_started(platform):
    """Stops the platform: conftest runs it last among the tests of its platform."""
    started = descendants(platform.runner.pid)
    assert len(started) >= 13  # 4 x (web, relay, consumer) + gateway, and the broker on the embedded default

    interrupt(platform.runner)
    # dev/run.py exits 0; make, whose child stopped cleanly, re-raises the interrupt (-2). A 2 from make would
    # mean dev/run.py died of the signal instead of stopping what it started.
    assert platform.runner.wait(60) in (0, -signal.SIGINT)

    time.sleep(0.5)
    assert [pid for pid in started if alive(pid)] == []
