"""What runs a service: its migration, its web process, its relays and consumers, their commands and
environment; and the gateway in front. `make run`, the fault suites and the benches start these, each with its
own supervisor settings, so a service runs the same way under all three."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from fleet.services import ROOT, Service

# How a service authenticates to Kafka (service_kit.settings.KAFKA_CLIENT_ENV): blanked for a plaintext broker,
# so that the credentials of another broker the shell may hold are not used.
KAFKA_CREDENTIALS = ("KAFKA_SECURITY_PROTOCOL", "KAFKA_SASL_MECHANISM", "KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD")
PLAINTEXT = dict.fromkeys(KAFKA_CREDENTIALS, "")


@dataclass(frozen=True)
class Process:
    """One command of the plan: its name (`<service>-web`, `<service>-relay`...), where and with what it runs."""

    name: str
    command: tuple[str, ...]
    cwd: Path
    env: Mapping[str, str] = field(default_factory=dict)

    def with_arguments(self, *arguments: str) -> Process:
        return replace(self, command=(*self.command, *arguments))

    def with_env(self, env: Mapping[str, str]) -> Process:
        return replace(self, env={**self.env, **env})

    def wrapped(self, *prefix: str) -> Process:
        """The same command under another (`ip netns exec <ns>`...)."""
        return replace(self, command=(*prefix, *self.command))


@dataclass(frozen=True)
class Plan:
    service: Service
    migrate: Process
    web: Process
    relays: tuple[Process, ...]
    consumers: tuple[Process, ...]


def service_env(*, bootstrap: str, gateway_port: int, auth_port: int, issuer: str | None = None,
                settings: str = "config.settings.base") -> dict[str, str]:
    """What every service of a local platform is given: its settings, the broker, and where auth-service's keys
    are."""
    env = {
        "DJANGO_SETTINGS_MODULE": settings,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        # A consumer restarted after a crash gets its partitions back within seconds instead of 45 (the dead
        # member's session must end first), and Tansu, which answers a join after half this, lets them join in 5.
        "KAFKA_SESSION_TIMEOUT_MS": "10000",
        "JWT_JWKS_URL": f"http://127.0.0.1:{auth_port}/api/auth/jwks/",
    }
    if issuer is not None:
        env["JWT_ISSUER"] = issuer
    return env


def python_of(service: Service) -> str:
    """The interpreter a service runs on locally: the running one (the development virtualenv's), or for a
    service on a Python of its own (services.toml's `python`), its own virtualenv's, which `make venv` makes."""
    return str(service.dev_venv / "bin" / "python") if service.own_python else sys.executable


def plan(service: Service, *, port: int, env: Mapping[str, str], python: str | None = None,
         forwarded_allow_ips: str | None = None, workers: int | None = None, relays: int = 1, consumers: int = 1,
         ready_file: Path | None = None, numbered: bool = False) -> Plan:
    """The processes of ``service``, its web process on ``port``. ``numbered`` names each relay and consumer
    `<name>-relay-<n>` (as many as a chart's replicas); otherwise there is one of each, `<name>-relay`."""
    folder, own = service.folder, dict(env)
    python = python or python_of(service)
    web = [python, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1", "--port", str(port)]
    if workers is not None:
        web += ["--workers", str(workers)]
    web += ["--no-access-log"]
    if forwarded_allow_ips is not None:
        web += ["--forwarded-allow-ips", forwarded_allow_ips]
    consume = [python, "manage.py", "events_consume"]
    if ready_file is not None:
        consume += ["--ready-file", str(ready_file)]

    def replicas(role: str, command: list[str], count: int) -> tuple[Process, ...]:
        if not numbered:
            return (Process(f"{service.name}-{role}", tuple(command), folder, own),) if count else ()
        return tuple(Process(f"{service.name}-{role}-{n}", tuple(command), folder, own) for n in range(count))

    return Plan(
        service=service,
        migrate=Process(f"{service.name}-migrate", (python, "manage.py", "migrate", "--noinput", "-v", "0"), folder, own),
        web=Process(f"{service.name}-web", tuple(web), folder, own),
        relays=replicas("relay", [python, "manage.py", "events_relay"], relays),
        consumers=replicas("consumer", consume, consumers),
    )


def upstreams(ports: Iterable[tuple[Service, int]], host: str = "127.0.0.1") -> dict[str, str]:
    """`<NAME>_SERVICE_URL` for each service, as the gateway reads them."""
    return {service.url_env: f"http://{host}:{port}" for service, port in ports}


def gateway(*, port: int, upstream: Mapping[str, str], python: str = sys.executable, root: Path = ROOT) -> Process:
    """The development gateway (the ASGI proxy) on ``port``, in front of ``upstream`` (see upstreams())."""
    command = (python, "-m", "gateway", "--host", "127.0.0.1", "--port", str(port))
    return Process("gateway", command, root / "gateway", dict(upstream))


# What `make run` runs from: its supervisor (dev/), this package, the services, the gateway and their list.
RUN_TREE = ("dev", "fleet", "services", "gateway")


def copy_run_tree(where: Path, *, root: Path = ROOT) -> Path:
    """A copy of the tree `make run` runs from at ``where`` (replaced if there), without what runs leave behind,
    for a test that edits or breaks its copy."""
    shutil.rmtree(where, ignore_errors=True)
    ignored = shutil.ignore_patterns("var", "__pycache__", "*.sqlite3*", ".pytest_cache", "node_modules", "*.egg-info")
    for part in RUN_TREE:
        shutil.copytree(root / part, where / part, ignore=ignored)
    shutil.copy(root / "services.toml", where)
    # The virtualenvs of the services on a Python of their own (python_of()), shared rather than copied.
    if (root / ".venvs" / "dev").is_dir():
        (where / ".venvs").mkdir()
        (where / ".venvs" / "dev").symlink_to(root / ".venvs" / "dev")
    return where
