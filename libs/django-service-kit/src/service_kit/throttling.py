"""Rate limits per caller: the user id from the token, else the client address (an IPv6 client by its /64),
counted in the service's database (service_kit.ratelimit) so that they hold across processes and pods."""

from __future__ import annotations

import ipaddress
import logging
from typing import TYPE_CHECKING

from django.db import DatabaseError
from rest_framework import throttling
from rest_framework.request import Request

from service_kit import ratelimit

if TYPE_CHECKING:
    from rest_framework.views import APIView

logger = logging.getLogger(__name__)

# One IPv6 subscriber is given a /64 at least (RFC 6177): counted by address, each of them would get 2^64 buckets.
IPV6_CLIENT_PREFIX = 64


def address_key(address: str) -> str:
    """The rate limit key of a client address: an IPv4 address as it is (also when IPv4-mapped in IPv6), an IPv6
    address by its /64 network; anything else as given."""
    try:
        parsed = ipaddress.ip_address(address.strip())
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, IPV6_CLIENT_PREFIX), strict=False))
    return str(parsed)


def client_key(request: Request) -> str:
    """The client's rate limit key, from REMOTE_ADDR alone: uvicorn puts the X-Forwarded-For address there only
    when the connection comes from FORWARDED_ALLOW_IPS (the gateway). The header itself is never read here, whatever
    DRF's NUM_PROXIES says, so that a caller who reaches the service directly cannot pick its own bucket."""
    return address_key(str(request.META.get("REMOTE_ADDR") or "unknown"))


def _caller(request: Request) -> str:
    user = getattr(request, "user", None)
    return f"user:{user.pk}" if user is not None and user.is_authenticated else f"ip:{client_key(request)}"


class _CallerRateThrottle(throttling.SimpleRateThrottle):
    _wait: float | None = None

    def get_cache_key(self, request: Request, view: APIView) -> str | None:
        return self.cache_format % {"scope": self.scope, "ident": _caller(request)}

    def allow_request(self, request: Request, view: APIView) -> bool:
        if self.rate is None:
            return True
        key = self.get_cache_key(request, view)
        # Set from the rate by SimpleRateThrottle (and ScopedRateThrottle below); the stubs do not declare them.
        limit, window = getattr(self, "num_requests", None), getattr(self, "duration", None)
        if key is None or limit is None or window is None:
            return True
        try:
            verdict = ratelimit.hit(key, limit=limit, window=window)
        except DatabaseError:
            # A limit that cannot be counted lets the request through: the service answers as well as its
            # database lets it, rather than a 500 for a counter.
            logger.warning("rate limit %s not counted: its database failed", self.scope, exc_info=True)
            return True
        self._wait = verdict.wait
        return verdict.allowed

    def wait(self) -> float | None:
        return None if self._wait is None else float(ratelimit.retry_after(self._wait))


class BurstRateThrottle(_CallerRateThrottle):
    scope = "burst"


class SustainedRateThrottle(_CallerRateThrottle):
    scope = "sustained"


class ScopedRateThrottle(_CallerRateThrottle):
    """The view's ``throttle_scope`` rate from ``DEFAULT_THROTTLE_RATES``; a scope without its own rate gets
    the ``scoped`` rate rather than an ImproperlyConfigured at request time. Views without a scope pass."""

    fallback_scope = "scoped"

    def __init__(self) -> None:
        # The rate is read per request (in allow_request), once the view and its scope are known.
        pass

    def allow_request(self, request: Request, view: APIView) -> bool:
        scope = getattr(view, "throttle_scope", None)
        if not scope:
            return True
        self.scope = scope
        rate = self.THROTTLE_RATES.get(scope, self.THROTTLE_RATES.get(self.fallback_scope))
        if rate is None:
            return True
        self.rate = rate
        self.num_requests, self.duration = self.parse_rate(rate)
        return super().allow_request(request, view)

    def wait(self) -> float | None:
        return super().wait() if getattr(self, "rate", None) else None


class CallerRateThrottles(throttling.BaseThrottle):
    """The caller's limits together, as the three classes above count them one by one (``burst``, ``sustained``
    and the view's ``throttle_scope``, else ``scoped``), in one statement (``ratelimit.hit_all``): one round
    trip per request instead of a transaction per limit. Refused when any limit refuses; the wait is the longest."""

    limits = ("burst", "sustained")
    fallback_scope = ScopedRateThrottle.fallback_scope
    _wait: float | None = None

    def allow_request(self, request: Request, view: APIView) -> bool:
        rates = throttling.SimpleRateThrottle.THROTTLE_RATES
        scoped = getattr(view, "throttle_scope", None)
        scopes = {scope: rates.get(scope) for scope in self.limits}
        if scoped:
            scopes[scoped] = rates.get(scoped, rates.get(self.fallback_scope))
        caller = _caller(request)
        limits = [ratelimit.Limit(throttling.SimpleRateThrottle.cache_format % {"scope": scope, "ident": caller},
                                  *_parsed(rate)) for scope, rate in scopes.items() if rate is not None]
        if not limits:
            return True
        try:
            verdicts = ratelimit.hit_all(limits)
        except DatabaseError:
            logger.warning("rate limits not counted: their database failed", exc_info=True)
            return True
        waits = [verdict.wait for verdict in verdicts if not verdict.allowed]
        self._wait = max(waits) if waits else None
        return not waits

    def wait(self) -> float | None:
        return None if self._wait is None else float(ratelimit.retry_after(self._wait))


def _parsed(rate: str) -> tuple[int, int]:
    """DRF's ``"<requests>/<period>"``: requests, and the period in seconds (s, m, h or d, as DRF reads it)."""
    requests, period = rate.split("/")
    return int(requests), {"s": 1, "m": 60, "h": 3600, "d": 86400}[period[0]]
