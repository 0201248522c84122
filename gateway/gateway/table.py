"""The routing table: a route per service of the platform's list (`services.toml` at the repository root, read by
the platform's module, fleet), rate limits and edge settings from `routes.toml`, with environment overrides.

The gateway depends on fleet rather than on a rendering of the list: the gateway's image serves nginx alone, its
configuration rendered by this package at development time (deploy/helm/gateway/files/nginx.conf, checked current
by deploy/tests), so the package runs only where the repository is, and one parser beats a generated file to keep
in step."""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import fleet

PACKAGE = Path(__file__).resolve().parent
# An exact path a service serves outside its prefix: nothing nginx would read as a pattern or a variable.
EXACT_PATH = re.compile(r"/[A-Za-z0-9._~/-]+")
# A limit's name names its nginx zone and variable.
LIMIT_NAME = re.compile(r"[a-z][a-z0-9_]*")
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def resource(name: str) -> Path:
    """The tables and the web page sit beside the package (the list of services at the repository root) in the
    source tree, and inside the package in a wheel."""
    for base in (PACKAGE, PACKAGE.parent, PACKAGE.parent.parent):
        if (base / name).exists():
            return base / name
    raise FileNotFoundError(f"gateway resource {name!r} is neither in {PACKAGE} nor beside it")


def services_list() -> Path:
    """The list of the tree this package is in (a copy or clone of the repository has its own), else fleet's."""
    try:
        return resource("services.toml")
    except FileNotFoundError:
        return fleet.LIST


@dataclass(frozen=True)
class Route:
    prefix: str
    service: str
    upstream: str
    env: str  # the environment variable that overrides `upstream`
    paths: tuple[str, ...] = ()  # exact paths outside `prefix` that the service serves too

    def serves(self, path: str) -> bool:
        return path.startswith(self.prefix) or path in self.paths

    @property
    def upstream_host_port(self) -> str:
        parts = urlsplit(self.upstream)
        if parts.scheme != "http" or not parts.hostname or parts.path not in ("", "/"):
            raise ValueError(f"{self.service}: upstream {self.upstream!r} must be http://host[:port]")
        return f"{parts.hostname}:{parts.port or 80}"


@dataclass(frozen=True, kw_only=True)
class ClientLimit:
    """What a per-client limit (or a stream route, `Stream`) covers, one shape for every kind: `paths` exactly and
    any path under `prefixes`, for `methods` (every method when empty)."""

    name: str
    paths: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ()
    methods: tuple[str, ...] = ()

    def applies_to(self, method: str, path: str) -> bool:
        return (not self.methods or method in self.methods) and self.covers(path)

    def covers(self, path: str) -> bool:
        return path in self.paths or any(path.startswith(prefix) for prefix in self.prefixes)

    @property
    def locations(self) -> tuple[str, ...]:
        """Its nginx location matches: `= /path` for an exact path, the prefix itself for a prefix."""
        return (*(f"= {path}" for path in self.paths), *self.prefixes)

    def covers_location(self, match: str) -> bool:
        """Whether every request nginx sends to the location `match` is within these paths: nginx applies one
        location's directives only, so each limited location carries every limit that covers it."""
        if match.startswith("= "):
            return self.covers(match.removeprefix("= "))
        return any(match.startswith(prefix) for prefix in self.prefixes)

    def overlaps(self, other: ClientLimit) -> bool:
        methods = not self.methods or not other.methods or bool(set(self.methods) & set(other.methods))
        nested = any(a.startswith(b) or b.startswith(a) for a in self.prefixes for b in other.prefixes)
        exact = any(other.covers(path) for path in self.paths) or any(self.covers(path) for path in other.paths)
        return methods and (nested or exact)


@dataclass(frozen=True, kw_only=True)
class RateLimit(ClientLimit):
    """nginx's leaky bucket per client address: `rate` whole requests per second, `burst` more admitted at once."""

    rate: int
    burst: int


@dataclass(frozen=True, kw_only=True)
class ConnectionLimit(ClientLimit):
    """At most `connections` requests of one client address in flight at once."""

    connections: int


@dataclass(frozen=True, kw_only=True)
class Stream(ClientLimit):
    """Paths whose answers are streams (Server-Sent Events): sent on as they come, never buffered or cached, and
    the service may stay silent for up to `read_timeout` seconds (its heartbeats come more often)."""

    read_timeout: float


@dataclass(frozen=True)
class Table:
    routes: tuple[Route, ...]
    rate_limits: tuple[RateLimit, ...]
    max_body_bytes: int
    connect_timeout: float
    read_timeout: float
    # The proxies in front of the gateway (an ingress controller, a load balancer) whose X-Forwarded-For names the
    # client; empty, nobody's is believed and the client is the connecting address.
    trusted_proxies: tuple[Network, ...] = ()
    connection_limits: tuple[ConnectionLimit, ...] = ()
    # Regular expressions of the paths whose GET answers nginx may keep, when the service marks them public.
    cached_reads: tuple[str, ...] = ()
    streams: tuple[Stream, ...] = ()

    def route_for(self, path: str) -> Route | None:
        return next((route for route in self.routes if route.serves(path)), None)

    def rate_limit_for(self, method: str, path: str) -> RateLimit | None:
        return next((limit for limit in self.rate_limits if limit.applies_to(method, path)), None)

    def connection_limit_for(self, method: str, path: str) -> ConnectionLimit | None:
        return next((limit for limit in self.connection_limits if limit.applies_to(method, path)), None)

    def stream_for(self, path: str) -> Stream | None:
        return next((stream for stream in self.streams if stream.covers(path)), None)

    def without_limits(self) -> Table:
        """The same table with no per-client limit, for a load that comes from one address (a benchmark)."""
        return replace(self, rate_limits=(), connection_limits=())


def rate_limits_on(environ: Mapping[str, str]) -> bool:
    """``RATE_LIMITS=off`` lifts every limit, for a fuzzing run that sends thousands of requests from one address;
    the services read the same variable. Anything but on/off is refused rather than guessed."""
    value = environ.get("RATE_LIMITS", "on").strip().lower()
    if value not in {"on", "off"}:
        raise ValueError(f"RATE_LIMITS={value!r}: use on or off")
    return value == "on"


def trusted_proxies_of(configured: list[str], environ: Mapping[str, str]) -> tuple[Network, ...]:
    """``GATEWAY_TRUSTED_PROXIES`` (CIDRs or addresses, separated by commas or spaces) over the table's list. A
    network that holds every address is refused: believing anyone's X-Forwarded-For is trusting no proxy at all,
    but worse, since each client would pick its own rate limit bucket."""
    override = environ.get("GATEWAY_TRUSTED_PROXIES")
    values = override.replace(",", " ").split() if override is not None else configured
    networks = []
    for value in values:
        try:
            network = ipaddress.ip_network(value, strict=True)
        except ValueError as error:
            raise ValueError(f"trusted proxy {value!r}: {error}") from error
        if network.prefixlen == 0:
            raise ValueError(f"trusted proxy {value!r} would believe every client's X-Forwarded-For")
        networks.append(network)
    return tuple(networks)


def route_of(service: fleet.Service, environ: Mapping[str, str]) -> Route:
    """A service of the list, reached on its `make run` port unless `<NAME>_SERVICE_URL` says otherwise."""
    default = f"http://127.0.0.1:{service.port}"
    return Route(service.prefix, service.service_name, upstream=environ.get(service.url_env) or default,
                 env=service.url_env, paths=service.paths)


def load(path: Path | None = None, environ: Mapping[str, str] = os.environ, services: Path | None = None) -> Table:
    raw = tomllib.loads((path or resource("routes.toml")).read_text())
    listed = fleet.load(services or services_list())
    edge = raw["edge"]
    limited = rate_limits_on(environ)
    table = Table(
        routes=tuple(route_of(service, environ) for service in listed),
        rate_limits=tuple(
            RateLimit(**_covered(r), rate=r["rate"], burst=r["burst"]) for r in raw.get("rate_limit", [])
        ) if limited else (),
        connection_limits=tuple(
            ConnectionLimit(**_covered(c), connections=c["connections"]) for c in raw.get("connection_limit", [])
        ) if limited else (),
        max_body_bytes=edge["max_body_bytes"],
        connect_timeout=float(edge["connect_timeout_seconds"]),
        read_timeout=float(environ.get("GATEWAY_READ_TIMEOUT_SECONDS") or edge["read_timeout_seconds"]),
        trusted_proxies=trusted_proxies_of(list(edge.get("trusted_proxies", [])), environ),
        cached_reads=tuple(re.compile(pattern).pattern for pattern in edge.get("cached_reads", [])),  # refused if bad
        streams=tuple(
            Stream(**_covered(s), read_timeout=float(s["read_timeout_seconds"])) for s in raw.get("stream", [])
        ),
    )
    _check(table)
    return table


def _covered(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The fields every kind of limit shares, from its table entry."""
    if "path" in raw:
        raise ValueError(f"limit {raw['name']!r}: `path` is spelled `paths = [...]`")
    return {"name": raw["name"], **{key: tuple(raw.get(key, ())) for key in ("paths", "prefixes", "methods")}}


def _check(table: Table) -> None:
    for route in table.routes:
        _check_route(table, route)
    _check_limit_names(table)
    for kind in (table.rate_limits, table.connection_limits):
        for limit in kind:
            _check_limit(table, limit)
            _check_no_overlap(kind, limit)
    for rate in table.rate_limits:
        if rate.rate < 1 or rate.burst < 0:
            raise ValueError(f"rate limit {rate.name!r}: rate must be >= 1 r/s and burst >= 0")
    for conn in table.connection_limits:
        if conn.connections < 1:
            raise ValueError(f"connection limit {conn.name!r}: connections must be >= 1")
    for stream in table.streams:
        _check_limit(table, stream)
        _check_no_overlap(table.streams, stream)
        if stream.methods or stream.read_timeout <= 0:
            raise ValueError(f"stream {stream.name!r}: every method is streamed, and read_timeout_seconds must be > 0")


def _check_route(table: Table, route: Route) -> None:
    if not (route.prefix.startswith("/") and route.prefix.endswith("/")):
        raise ValueError(f"route prefix {route.prefix!r} must start and end with '/'")
    for path in route.paths:
        owners = [other.service for other in table.routes if other.serves(path)]
        if not EXACT_PATH.fullmatch(path) or owners != [route.service]:
            raise ValueError(f"{route.service}: path {path!r} must be a plain /path that no other route serves")
    route.upstream_host_port  # noqa: B018 - validates the address


def _check_limit_names(table: Table) -> None:
    names = [limit.name for limit in (*table.rate_limits, *table.connection_limits)]
    if len(set(names)) != len(names):
        raise ValueError(f"limits share a name (each names an nginx zone): {names}")


def _check_no_overlap(kind: tuple[ClientLimit, ...], limit: ClientLimit) -> None:
    """One limit of a kind per request, as the development proxy counts it: nginx would count two limit_req zones
    of one location in its own way."""
    overlap = [other.name for other in kind if other is not limit and other.overlaps(limit)]
    if overlap:
        raise ValueError(f"limits {limit.name!r} and {overlap[0]!r} cover the same requests")


def _check_limit(table: Table, limit: ClientLimit) -> None:
    if not LIMIT_NAME.fullmatch(limit.name):
        raise ValueError(f"limit {limit.name!r}: a name is lower-case letters, digits and '_' (an nginx variable)")
    if not limit.paths and not limit.prefixes:
        raise ValueError(f"limit {limit.name!r} covers no path")
    for path in (*limit.paths, *limit.prefixes):
        serving = table.route_for(path)
        if serving is None:
            raise ValueError(f"limit {limit.name!r} covers {path!r}, which no route serves")
        # nginx would have two locations of one prefix.
        if path in limit.prefixes and path == serving.prefix:
            raise ValueError(f"limit {limit.name!r}: {path!r} is its route's own prefix")
        if not EXACT_PATH.fullmatch(path):
            raise ValueError(f"limit {limit.name!r}: {path!r} must be a plain /path")
    if not all(prefix.endswith("/") for prefix in limit.prefixes):
        raise ValueError(f"limit {limit.name!r}: a prefix must end with '/'")
    if not all(method.isalpha() and method.isupper() for method in limit.methods):
        raise ValueError(f"limit {limit.name!r}: methods are upper-case names, such as GET")
