"""services.toml, read once into frozen `Service` records; a bad entry is refused, naming it.

Standard library only: the Makefile runs `python3 -m fleet` before any virtualenv exists.
"""

from __future__ import annotations

import functools
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PACKAGE = Path(__file__).resolve().parent
# In the source tree the list sits at the repository root, beside this package; a wheel that bundles the package
# (the gateway's) carries it inside.
ROOT = PACKAGE.parent
LIST = PACKAGE / "services.toml" if (PACKAGE / "services.toml").exists() else ROOT / "services.toml"
# The gateway's port under `make run`: each service's `port` is this plus its offset.
GATEWAY_PORT = 8000
NAME = re.compile(r"[a-z][a-z0-9]{1,30}")
DATABASE = re.compile(r"[a-z_][a-z0-9_]{0,62}")
KEYS = {"name", "prefix", "port", "database", "paths", "python"}
# The Python a service runs on unless its entry names another (`python = "3.13"`): the development virtualenv's,
# the images' and CI's. A service that names one gets a virtualenv of its own (.venvs/dev/<name>-service) under
# `make run`, in `make test-services` and in its image.
DEFAULT_PYTHON = "3.11"
PYTHON = re.compile(r"3\.1[1-9]")


class ServicesError(ValueError):
    """services.toml is not a list the platform can run."""


@dataclass(frozen=True)
class Service:
    """One entry of services.toml, with the names every tool derives from it."""

    name: str
    prefix: str
    port: int
    database: str
    paths: tuple[str, ...] = ()
    python: str = DEFAULT_PYTHON
    root: Path = field(default=ROOT, compare=False, repr=False)

    @property
    def service_name(self) -> str:
        """Its folder, chart, image, Kubernetes Service, Kafka principal and event `source`: `<name>-service`."""
        return f"{self.name}-service"

    @property
    def url_env(self) -> str:
        """The variable that points the gateway at it: `<NAME>_SERVICE_URL`."""
        return f"{self.name.upper()}_SERVICE_URL"

    @property
    def folder(self) -> Path:
        return self.root / "services" / self.service_name

    @property
    def chart(self) -> Path:
        return self.root / "deploy" / "helm" / self.service_name

    @property
    def offset(self) -> int:
        """Its port's distance from the gateway's, kept when the gateway moves (--port 18000 puts 8001 on 18001)."""
        return self.port - GATEWAY_PORT

    def port_beside(self, gateway_port: int) -> int:
        return gateway_port + self.offset

    @property
    def own_python(self) -> bool:
        """Whether it runs on another Python than the platform's, in a virtualenv of its own."""
        return self.python != DEFAULT_PYTHON

    @property
    def dev_venv(self) -> Path:
        """Its development virtualenv when it runs on a Python of its own (`make venv` makes it)."""
        return self.root / ".venvs" / "dev" / self.service_name


def parse(text: str, *, root: Path = ROOT, source: str = "services.toml") -> tuple[Service, ...]:
    """The services of a services.toml text, in order; ServicesError names the first bad entry."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ServicesError(f"{source}: {error}") from None
    entries = document.get("service")
    if not isinstance(entries, list) or not entries:
        raise ServicesError(f"{source}: no [[service]] entries")
    services = tuple(_service(entry, index, root, source) for index, entry in enumerate(entries, start=1))
    for key in ("name", "prefix", "port", "database"):
        seen: dict[object, str] = {}
        for service in services:
            value = getattr(service, key)
            if value in seen:
                raise ServicesError(f"{source}: service {service.name!r}: {key} {value!r} is {seen[value]!r}'s already")
            seen[value] = service.name
    return services


def _service(entry: Any, index: int, root: Path, source: str) -> Service:
    where = f"{source}: service #{index}"
    if not isinstance(entry, dict):
        raise ServicesError(f"{where}: not a table")
    name = entry.get("name")
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise ServicesError(f"{where}: name {name!r} must be 2-31 lowercase letters and digits, starting with a letter")
    where = f"{source}: service {name!r}"
    unknown = sorted(set(entry) - KEYS)
    if unknown:
        raise ServicesError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(KEYS))})")
    missing = sorted(KEYS - {"paths", "python"} - set(entry))
    if missing:
        raise ServicesError(f"{where}: {missing[0]!r} is missing")
    prefix, port, database, paths = entry["prefix"], entry["port"], entry["database"], entry.get("paths", [])
    python = entry.get("python", DEFAULT_PYTHON)
    if not isinstance(prefix, str) or not (prefix.startswith("/") and prefix.endswith("/")):
        raise ServicesError(f"{where}: prefix {prefix!r} must start and end with '/'")
    if isinstance(port, bool) or not isinstance(port, int) or not GATEWAY_PORT < port < 65536:
        raise ServicesError(f"{where}: port {port!r} must be a number above the gateway's {GATEWAY_PORT}")
    if not isinstance(database, str) or not DATABASE.fullmatch(database):
        raise ServicesError(f"{where}: database {database!r} must be lowercase letters, digits and '_'")
    if not isinstance(paths, list) or not all(isinstance(p, str) and p.startswith("/") for p in paths):
        raise ServicesError(f"{where}: paths {paths!r} must be a list of /paths")
    if not isinstance(python, str) or not PYTHON.fullmatch(python):
        raise ServicesError(f"{where}: python {python!r} must be a Python version such as \"3.13\"")
    return Service(name=name, prefix=prefix, port=port, database=database, paths=tuple(paths), python=python,
                   root=root)


@functools.cache
def _load(path: Path) -> tuple[Service, ...]:
    return parse(path.read_text(), root=path.parent, source=str(path.name))


def load(path: Path | None = None) -> tuple[Service, ...]:
    """The platform's services, read once per file."""
    return _load((path or LIST).resolve())


def named(name: str, path: Path | None = None) -> Service:
    for service in load(path):
        if service.name == name:
            return service
    raise KeyError(f"no service {name!r} in services.toml")
