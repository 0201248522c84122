"""``Idempotency-Key`` for POST endpoints (IETF httpapi draft): a retry gets the first answer again.

The unique (user, key) row is inserted and committed before the view runs, so of concurrent requests exactly
one runs the view; the others see the row and get 409 while it is in flight, or the stored answer after. The
view's writes and the stored answer commit in one transaction, so a crash leaves either both or neither.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle

from .conf import kit_settings
from .errors import ApplicationError
from .models import IdempotencyKey

if TYPE_CHECKING:
    from rest_framework.views import APIView

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255

View = TypeVar("View", bound=Callable[..., Response])


class IdempotencyKeyInFlight(ApplicationError):
    def __init__(self) -> None:
        super().__init__(
            "A request with this Idempotency-Key is still being processed; retry shortly.",
            code="idempotency_key_in_flight",
            status=409,
        )


class IdempotencyKeyReused(ApplicationError):
    def __init__(self) -> None:
        super().__init__(
            "This Idempotency-Key was already used with another request; use a new key for a new request.",
            code="idempotency_key_reused",
            status=422,
            details={HEADER: ["Already used with a different request body."]},
        )


def request_fingerprint(request: Request) -> str:
    body = json.dumps(request.data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{request.method} {request.path}\n{body}".encode()).hexdigest()


def _caller(request: Request) -> str:
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    return f"ip:{SimpleRateThrottle().get_ident(request)}"


def _claim(*, user_id: str, key: str, fingerprint: str) -> IdempotencyKey | None:
    """Our new row, or None when an earlier request owns the key (its answer is then raised or replayed)."""
    try:
        with transaction.atomic():
            return IdempotencyKey.objects.create(user_id=user_id, key=key, request_fingerprint=fingerprint)
    except IntegrityError:
        return None


def _take_over_if_abandoned(existing: IdempotencyKey) -> bool:
    timeout = timedelta(seconds=kit_settings.IDEMPOTENCY["IN_FLIGHT_TIMEOUT_SECONDS"])
    # A conditional delete: of several retries racing for an abandoned key, one deletes it.
    deleted, _ = IdempotencyKey.objects.filter(
        pk=existing.pk, status_code__isnull=True, created_at__lt=timezone.now() - timeout
    ).delete()
    return deleted == 1


def _replay_or_refuse(*, user_id: str, key: str, fingerprint: str) -> Response | None:
    existing = IdempotencyKey.objects.filter(user_id=user_id, key=key).first()
    if existing is None:  # the owner failed and released the key between our insert and this read
        return None
    if existing.request_fingerprint != fingerprint:
        raise IdempotencyKeyReused()
    if existing.status_code is None:
        if _take_over_if_abandoned(existing):
            return None
        raise IdempotencyKeyInFlight()
    return Response(existing.response_body, status=existing.status_code, headers={"Idempotent-Replayed": "true"})


def idempotent(view_method: View) -> View:
    """Decorates an APIView's ``post``: with an ``Idempotency-Key`` header, a retry replays the first answer.

    Answers below 500 are stored (a 409 "already voted" is the answer, too); a 5xx or an unexpected error
    releases the key so the client may retry. Without the header the view runs as usual.
    """

    @functools.wraps(view_method)
    def wrapper(self: APIView, request: Request, *args: Any, **kwargs: Any) -> Response:
        key = request.headers.get(HEADER)
        if key is None:
            return view_method(self, request, *args, **kwargs)
        if not 0 < len(key) <= MAX_KEY_LENGTH:
            raise ApplicationError(
                f"{HEADER} must be 1 to {MAX_KEY_LENGTH} characters.",
                code="invalid",
                details={HEADER: [f"Must be 1 to {MAX_KEY_LENGTH} characters."]},
            )
        user_id, fingerprint = _caller(request), request_fingerprint(request)
        for _ in range(2):  # a second round only after taking over an abandoned or released key
            record = _claim(user_id=user_id, key=key, fingerprint=fingerprint)
            if record is not None:
                return _run_and_store(self, view_method, record, request, *args, **kwargs)
            replay = _replay_or_refuse(user_id=user_id, key=key, fingerprint=fingerprint)
            if replay is not None:
                return replay
        raise IdempotencyKeyInFlight()

    return wrapper  # type: ignore[return-value]


def _run_and_store(
    view: APIView, view_method: Callable[..., Response], record: IdempotencyKey, request: Request, *args: Any, **kwargs: Any
) -> Response:
    try:
        with transaction.atomic():
            try:
                response = view_method(view, request, *args, **kwargs)
            except Exception as exc:
                # The error answer (400, 404, 409...) is the answer to store; unknown errors re-raise.
                response = view.handle_exception(exc)
            if response.status_code >= 500:
                raise _Release(response)
            IdempotencyKey.objects.filter(pk=record.pk).update(
                status_code=response.status_code, response_body=response.data, completed_at=timezone.now()
            )
            return response
    except _Release as release:
        IdempotencyKey.objects.filter(pk=record.pk).delete()
        return release.response
    except BaseException:
        IdempotencyKey.objects.filter(pk=record.pk).delete()
        raise


class _Release(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response
