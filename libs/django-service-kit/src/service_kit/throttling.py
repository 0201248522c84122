"""Rate limits per caller: the user id from the token, else the client address."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rest_framework import throttling
from rest_framework.request import Request

if TYPE_CHECKING:
    from rest_framework.views import APIView


class _CallerRateThrottle(throttling.SimpleRateThrottle):
    def get_cache_key(self, request: Request, view: APIView) -> str | None:
        user = getattr(request, "user", None)
        ident = f"user:{user.pk}" if user is not None and user.is_authenticated else f"ip:{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}


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


