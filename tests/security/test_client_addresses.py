"""Real client addresses and limits that hold: behind a trusted proxy each client is itself, a spoofed
X-Forwarded-For from anyone else changes nothing, a direct caller of a service cannot pick its own bucket, and
failed logins are limited per account across processes and addresses, with a growing lock-out."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from service_kit.settings import database_url_for

from gateway.table import load
from tests.e2e.conftest import ROOT
from tests.security.conftest import GATEWAY_PORT, LIMITS_ON, NGINX_PORT, Platform, client, wait_answering

pytestmark = pytest.mark.parametrize("platform", [LIMITS_ON], indirect=True)
VOTES = next(limit for limit in load().rate_limits if "/api/votes/" in limit.paths)
AUTH_URL = f"http://127.0.0.1:{GATEWAY_PORT + 1}"
# A second web process of auth-service beside make run's, on the same database.
SECOND_AUTH_PORT = NGINX_PORT + 1


def _ingress(platform: Platform, gateway_url: str) -> str:
    """An address of the trusted proxy (conftest.INGRESS), one per gateway so that their tests stay apart."""
    return "127.0.6.1" if gateway_url == platform.url else "127.0.6.2"


def _together(calls: list[tuple[str, str, dict[str, str]]], url: str, path: str) -> tuple[float, list[httpx.Response]]:
    """Each (source, X-Forwarded-For, body) POSTed to `path` at once, each client connected first; and when."""
    start = threading.Barrier(len(calls))

    def post(call: tuple[str, str, dict[str, str]]) -> httpx.Response:
        source, forwarded_for, body = call
        with client(url, source) as http:
            http.get("/healthz")
            start.wait()
            return http.post(path, json=body, headers={"X-Forwarded-For": forwarded_for})

    with ThreadPoolExecutor(len(calls)) as pool:
        answers = pool.map(post, calls)
        started = time.monotonic()
        return started, list(answers)


def _most_admitted(started: float) -> int:
    """The gateway's burst and first request, plus what its bucket drained while a loaded machine sent them."""
    return VOTES.burst + 1 + math.ceil(VOTES.rate * (time.monotonic() - started))


def _rate_limited(answers: list[httpx.Response]) -> int:
    return sum(answer.json().get("error") == "rate_limited" for answer in answers)


def test_behind_a_trusted_proxy_two_clients_have_two_buckets(platform: Platform, gateway_url: str):
    ingress = _ingress(platform, gateway_url)
    crowd = [(ingress, "198.51.100.1", {}) for _ in range(36)] + [(ingress, "198.51.100.2", {}) for _ in range(8)]
    started, answers = _together(crowd, gateway_url, "/api/votes/")
    # The first client is held to its bucket; the second, behind the same proxy, has one of its own.
    assert 36 - _rate_limited(answers[:36]) <= _most_admitted(started), [answer.status_code for answer in answers]
    assert _rate_limited(answers[36:]) == 0, [answer.status_code for answer in answers[36:]]


def test_a_spoofed_x_forwarded_for_from_an_untrusted_peer_picks_no_bucket(platform: Platform, gateway_url: str):
    source = "127.0.7.1" if gateway_url == platform.url else "127.0.7.2"
    started, answers = _together([(source, f"198.51.100.{n}", {}) for n in range(40)], gateway_url, "/api/votes/")
    assert 40 - _rate_limited(answers) <= _most_admitted(started), [answer.status_code for answer in answers]


def test_a_direct_caller_of_a_service_gets_no_fresh_bucket_from_x_forwarded_for(platform: Platform):
    # auth-service's own limit on registration, 20 a minute per client: keyed on the caller, not on its header.
    with client(AUTH_URL, "127.0.8.1") as http:
        answers = [http.post("/api/auth/register/", json={"username": f"direct{n}", "password": "x"},
                             headers={"X-Forwarded-For": f"198.51.100.{n}"}) for n in range(30)]
    assert [answer.json().get("error") for answer in answers].count("throttled") >= 30 - 20


def test_forty_bad_logins_from_one_client_leave_other_users_logins_and_refreshes(platform: Platform, gateway_url: str):
    ingress = _ingress(platform, gateway_url)
    third = 3 if gateway_url == platform.url else 4
    users = []
    for n in range(3):
        username = f"sec-{uuid.uuid4().hex[:10]}"
        with client(gateway_url, f"127.0.{third}.{50 + n}") as http:
            registered = http.post("/api/auth/register/", json={"username": username, "password": "a-long-password-42"})
            assert registered.status_code == 201, registered.text
        users.append(username)
    with client(gateway_url, ingress) as http:
        attacker = {"X-Forwarded-For": "198.51.100.66"}
        for n in range(40):
            http.post("/api/auth/token/", json={"username": f"guess-{n}", "password": "guess"}, headers=attacker)
        for n, username in enumerate(users):
            own = {"X-Forwarded-For": f"198.51.100.{70 + n}"}
            tokens = http.post("/api/auth/token/", json={"username": username, "password": "a-long-password-42"}, headers=own)
            assert tokens.status_code == 200, tokens.text
            refreshed = http.post("/api/auth/token/refresh/", json={"refresh": tokens.json()["refresh"]}, headers=own)
            assert refreshed.status_code == 200, refreshed.text


@pytest.fixture(scope="module")
def second_auth_process(platform: Platform, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """auth-service's web process started once more, as a second pod would be: the same database, its own memory."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.base",
           "DATABASE_URL": database_url_for(os.environ["DATABASE_URL"], "auth_service"),
           "JWT_JWKS_URL": f"{AUTH_URL}/api/auth/jwks/"}
    log = tmp_path_factory.mktemp("second-auth") / "web.log"
    command = [sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1",
               "--port", str(SECOND_AUTH_PORT), "--forwarded-allow-ips", "127.0.0.1"]
    process = subprocess.Popen(command, cwd=ROOT / "services" / "auth-service", env=env,
                               stdout=log.open("wb"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{SECOND_AUTH_PORT}"
    try:
        wait_answering(f"{url}/healthz", process, log, timeout=300)  # a loaded CI machine takes its time to import Django
        yield url
    finally:
        process.terminate()
        process.wait(30)


def _login(url: str, source: str, username: str, password: str) -> httpx.Response:
    with client(url, source) as http:
        return http.post("/api/auth/token/", json={"username": username, "password": password})


def test_an_accounts_limit_holds_across_processes_and_addresses_and_its_lock_out_grows(
        platform: Platform, second_auth_process: str):
    username = f"sec-{uuid.uuid4().hex[:10]}"
    with client(platform.url, "127.0.9.251") as http:
        registered = http.post("/api/auth/register/", json={"username": username, "password": "a-long-password-42"})
        assert registered.status_code == 201, registered.text
    processes = [AUTH_URL, second_auth_process]
    # Guesses alternating between the two processes, each from another address, waiting out each lock-out.
    statuses: list[int] = []
    waits: list[int] = []
    while len(waits) < 4:
        assert len(statuses) < 30, statuses
        n = len(statuses)
        answer = _login(processes[n % 2], f"127.0.9.{n + 1}", username, "guess")
        statuses.append(answer.status_code)
        if answer.status_code == 429:
            assert answer.json()["error"] == "login_locked", answer.text
            waits.append(int(answer.headers["Retry-After"]))
            if len(waits) < 4:
                time.sleep(waits[-1] + 0.2)
    # No address tried twice, yet the account's five free failures were counted together by both processes.
    assert statuses[:5] == [401] * 5, statuses
    # Each lock-out after a failure is longer than the last (1, 2, 4, 8 s, less the time a loaded machine took).
    assert waits == sorted(waits) and waits[-1] > waits[0], waits
    # The owner is locked out too, on either process, whatever the address: the lock says nothing of the password.
    owner = _login(processes[len(statuses) % 2], "127.0.9.100", username, "a-long-password-42")
    assert owner.status_code == 429, owner.text
