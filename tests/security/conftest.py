"""The platform as an attacker meets it: `dev/run.py` on PostgreSQL and Kafka, reached through the development
gateway and through nginx rendered from the same routing table, in front of the same services.

Two platforms, one after the other (the services' databases are the same names): production limits for the
attacks, and `RATE_LIMITS=off` for the fuzzing run, which sends thousands of requests from one address."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from gateway.nginx import command as nginx_command
from tests.e2e.conftest import ROOT, fresh_databases, interrupt

GATEWAY_PORT = int(os.environ.get("SECURITY_GATEWAY_PORT", 18400))
# The services listen on the gateway port plus 1-4 (dev/run.py); nginx beside them.
NGINX_PORT = GATEWAY_PORT + 10
# The stand-in for an ingress controller or load balancer in front of both gateways: they believe its
# X-Forwarded-For (GATEWAY_TRUSTED_PROXIES), nobody else's.
INGRESS = "127.0.6.0/24"
LIMITS_ON = "production-limits"
LIMITS_OFF = "rate-limits-off"
SIGNING_KEY = ROOT / "services" / "auth-service" / "var" / "jwt" / "private.pem"


@dataclass
class Platform:
    url: str
    nginx_url: str
    log: Path
    # Its topics' prefix on the shared Kafka.
    prefix: str

    def urls(self) -> dict[str, str]:
        return {"dev": self.url, "nginx": self.nginx_url}


def _wait_until_ready(runner: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 300
    while b"ready:" not in log.read_bytes():
        assert runner.poll() is None, f"the platform failed to start:\n{log.read_text()[-4000:]}"
        assert time.monotonic() < deadline, f"the platform did not start in time:\n{log.read_text()[-4000:]}"
        time.sleep(0.5)


def _start_nginx(folder: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    upstreams = {
        f"{name}_SERVICE_URL": f"http://127.0.0.1:{GATEWAY_PORT + offset}"
        for offset, name in enumerate(("AUTH", "POLLS", "CHOICE", "VOTE"), start=1)
    }
    render = [sys.executable, "-m", "gateway.nginx", "render", "--main", "--listen", f"127.0.0.1:{NGINX_PORT}",
              "--access-log", str(folder / "access.log")]
    config = subprocess.run(render, cwd=ROOT / "gateway", env={**env, **upstreams}, check=True, capture_output=True)
    (folder / "nginx.conf").write_bytes(config.stdout)
    process = subprocess.Popen(nginx_command(folder), stdout=(folder / "nginx.out").open("wb"), stderr=subprocess.STDOUT)
    wait_answering(f"http://127.0.0.1:{NGINX_PORT}/healthz", process, folder / "nginx.out", timeout=15)
    return process


def wait_answering(url: str, process: subprocess.Popen[bytes], output: Path, timeout: float) -> None:
    """Until `process`, just started, answers `url` with a 200; its `output` says why if it exits or is too slow."""
    deadline = time.monotonic() + timeout
    while not _healthy(url):
        assert process.poll() is None and time.monotonic() < deadline, output.read_text()
        time.sleep(0.1)


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.TransportError:
        return False


@pytest.fixture(scope="session")
def platform(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """Parametrized indirectly with LIMITS_ON or LIMITS_OFF; pytest runs each one's tests together."""
    database_url = os.environ.get("DATABASE_URL")
    if not (database_url and os.environ.get("KAFKA_BOOTSTRAP_SERVERS")):
        pytest.skip("needs DATABASE_URL and KAFKA_BOOTSTRAP_SERVERS (make infra-up)")
    folder = tmp_path_factory.mktemp(request.param)
    fresh_databases(database_url)
    prefix = f"security-{uuid.uuid4().hex[:8]}."
    env = {**os.environ, "KAFKA_TOPIC_PREFIX": prefix,
           "RATE_LIMITS": "off" if request.param == LIMITS_OFF else "on", "GATEWAY_TRUSTED_PROXIES": INGRESS}
    if request.param == LIMITS_OFF:
        # The fuzzer's ids name polls nobody created: each such request would wait the read model's whole bound
        # before its 404, minutes of the tier, and the bound is not what the fuzzing checks.
        env["READ_MODEL_WAIT"] = "0.2"
    log = folder / "run.log"
    with open(log, "wb") as out:
        runner = subprocess.Popen([sys.executable, str(ROOT / "dev" / "run.py"), "--port", str(GATEWAY_PORT)],
                                  cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    nginx = None
    try:
        _wait_until_ready(runner, log)
        nginx = _start_nginx(folder, env)
        yield Platform(f"http://127.0.0.1:{GATEWAY_PORT}", f"http://127.0.0.1:{NGINX_PORT}", log, prefix)
    finally:
        if nginx is not None:
            nginx.terminate()
            nginx.wait(30)
        if runner.poll() is None:
            interrupt(runner)
            runner.wait(60)


@pytest.fixture(params=["dev", "nginx"])
def gateway_url(request: pytest.FixtureRequest, platform: Platform) -> str:
    """Each test that takes it runs through both gateways."""
    return platform.urls()[request.param]


@dataclass
class User:
    id: str
    access: str
    refresh: str

    @property
    def authorization(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access}"}


def client(url: str, source: str = "127.0.0.1") -> httpx.Client:
    """From a client address of the test's own (127.0.0.0/8), so that one test's rate limits leave the others'."""
    return httpx.Client(base_url=url, timeout=60, transport=httpx.HTTPTransport(local_address=source))


def fresh_user(url: str, source: str = "127.0.0.1") -> User:
    credentials = {"username": f"sec-{uuid.uuid4().hex[:10]}", "password": "a-long-password-42"}
    with client(url, source) as http:
        registered = http.post("/api/auth/register/", json=credentials)
        assert registered.status_code == 201, registered.text
        tokens = http.post("/api/auth/token/", json=credentials)
        assert tokens.status_code == 200, tokens.text
    return User(registered.json()["id"], tokens.json()["access"], tokens.json()["refresh"])


def assert_json_error(response: httpx.Response, status: int | None = None) -> str:
    """A 4xx (or exactly `status`) with the platform's JSON error body; its code."""
    assert response.headers.get("content-type", "").startswith("application/json"), (response.status_code, response.text[:300])
    if status is None:
        assert 400 <= response.status_code < 500, response.text[:300]
    else:
        assert response.status_code == status, response.text[:300]
    body = response.json()
    assert set(body) == {"error", "message", "details"} and body["message"], body
    return str(body["error"])
