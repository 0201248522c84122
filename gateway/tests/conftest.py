"""Both gateways, the development proxy and real nginx, each in front of the same stub services.

Every test takes the parametrized `gateway` fixture, so it runs once through each and expects the same answers.
"""

from __future__ import annotations

import math
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from gateway.nginx import command as nginx_command
from gateway.table import ClientLimit, RateLimit, load
from tests.stubs import EchoServers, free_port

PROJECT = Path(__file__).resolve().parent.parent
# Short enough to keep the suite quick, long enough for a loaded CI machine's echo to answer in time.
READ_TIMEOUT_SECONDS = 1
# The stand-in for an ingress controller in front of the gateways: its X-Forwarded-For is believed, nobody else's.
TRUSTED_PROXIES = "127.0.7.0/24 ::1/128"
NGINX = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)


def most_admitted(limit: RateLimit, started: float) -> int:
    """The first request and `burst` more at once, plus what the bucket drained while the requests arrived
    (a busy machine stretches that time)."""
    return limit.burst + 1 + math.ceil(limit.rate * (time.monotonic() - started))


def covered_paths(limit: ClientLimit) -> list[str]:
    """A path of each kind the limit covers: its exact paths, and one under each of its prefixes."""
    return [*limit.paths, *(f"{prefix}some-id/" for prefix in limit.prefixes)]


def counted_method(limit: ClientLimit) -> str:
    return limit.methods[0] if limit.methods else "GET"


@dataclass
class Gateway:
    kind: str
    url: str
    access_log: Path
    process: subprocess.Popen[bytes]

    def client(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10, **kwargs)  # type: ignore[arg-type]

    def access_log_lines(self) -> list[str]:
        return self.access_log.read_text().splitlines() if self.access_log.exists() else []


@pytest.fixture(scope="session")
def services() -> Iterator[dict[str, int]]:
    """Service name -> port of its echo stand-in."""
    services = [route.service for route in load().routes]
    with EchoServers(len(services)) as echo:
        yield dict(zip(services, echo.ports, strict=True))


def _upstream_env(ports: dict[str, int]) -> dict[str, str]:
    return {route.env: f"http://127.0.0.1:{ports[route.service]}" for route in load().routes}


def _start(kind: str, ports: dict[str, int], folder: Path, extra_env: dict[str, str] | None = None) -> Gateway:
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {**os.environ, **_upstream_env(ports), "GATEWAY_READ_TIMEOUT_SECONDS": str(READ_TIMEOUT_SECONDS),
           "GATEWAY_TRUSTED_PROXIES": TRUSTED_PROXIES, **(extra_env or {})}
    access_log = folder / "access.log"
    if kind == "dev":
        command = [sys.executable, "-m", "gateway", "--host", "127.0.0.1", "--port", str(port)]
        # stdout is the JSON access log; uvicorn's own messages go to stderr.
        process = subprocess.Popen(command, cwd=PROJECT, env=env, stdout=access_log.open("wb"),
                                   stderr=(folder / "gateway.out").open("wb"))
    else:
        render = [sys.executable, "-m", "gateway.nginx", "render", "--main", "--listen", f"127.0.0.1:{port}",
                  "--access-log", str(access_log)]
        config = subprocess.run(render, cwd=PROJECT, env=env, check=True, capture_output=True).stdout
        (folder / "nginx.conf").write_bytes(config)
        assert NGINX, "nginx is not installed"
        process = subprocess.Popen(nginx_command(folder, NGINX), stdout=(folder / "nginx.out").open("wb"),
                                   stderr=subprocess.STDOUT)
    gateway = Gateway(kind, f"http://127.0.0.1:{port}", access_log, process)
    deadline = time.monotonic() + 60  # a loaded CI machine takes its time to import uvicorn
    while True:
        try:
            if httpx.get(f"{gateway.url}/healthz", timeout=1).status_code == 200:
                return gateway
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            _stop(gateway)
            output = next(folder.glob("*.out"), access_log)
            raise RuntimeError(f"the {kind} gateway did not start:\n{output.read_text() if output.exists() else ''}")
        time.sleep(0.05)


def _stop(gateway: Gateway) -> None:
    # SIGQUIT is nginx's graceful stop; uvicorn stops on SIGTERM.
    gateway.process.send_signal(signal.SIGQUIT if gateway.kind == "nginx" else signal.SIGTERM)
    try:
        gateway.process.wait(10)
    except subprocess.TimeoutExpired:
        gateway.process.kill()
        gateway.process.wait()


@pytest.fixture(scope="module", params=["dev", "nginx"])
def kind(request: pytest.FixtureRequest) -> str:
    if request.param == "nginx" and NGINX is None:
        pytest.skip("nginx is not installed (apt-get install -y nginx-light; CI installs it)")
    return str(request.param)


@pytest.fixture(scope="module")
def gateway(kind: str, services: dict[str, int], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """A gateway per module, so that one module's rate limiting cannot spill into another's."""
    running = _start(kind, services, tmp_path_factory.mktemp(kind))
    yield running
    _stop(running)


@pytest.fixture(scope="module")
def gateway_without_services(kind: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """A gateway whose every service address is a port nobody listens on."""
    closed = free_port()
    running = _start(kind, {route.service: closed for route in load().routes}, tmp_path_factory.mktemp(f"{kind}-down"))
    yield running
    _stop(running)
