"""One error body everywhere: ``{"error": code, "message": for a person, "details": {...}}``.

The convention (codes, message style, when details appear and their types) is docs/errors.md at the
repository's root; ``service_kit.testing.assert_error_body`` checks a body against it."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from .conf import kit_settings

__all__ = [
    "ApplicationError",
    "bad_request",
    "Conflict",
    "Forbidden",
    "NotFound",
    "error_body",
    "exception_handler",
    "page_not_found",
    "permission_denied",
    "server_error",
]


class ApplicationError(Exception):
    """Raised by services for a rule the request breaks; the API answers ``status`` with this body."""

    def __init__(self, message: str, *, code: str = "invalid", status: int = 400, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.details = details or {}


class NotFound(ApplicationError):
    def __init__(self, message: str = "Not found.", *, code: str = "not_found", details: dict[str, Any] | None = None):
        super().__init__(message, code=code, status=404, details=details)


class NotKnownYet(NotFound):
    """An id another service owns that this service's read model does not hold, perhaps not yet: its event may
    be milliseconds away. Every service answers it with one code, ``<what>_not_known``, so a client knows that
    retrying shortly can help, which it cannot after ``<what>_not_found``. The message names the service from
    ``SERVICE_KIT["SERVICE"]``; ``service=`` overrides it."""

    def __init__(self, what: str, identifier: object, *, service: str | None = None):
        name = service or kit_settings.SERVICE or "this service"
        super().__init__(
            f"This {what} is not known to {name} yet: if it was created a moment ago, retry shortly.",
            code=f"{what}_not_known",
            details={f"{what}_id": str(identifier)},
        )


class Conflict(ApplicationError):
    def __init__(self, message: str, *, code: str = "conflict", details: dict[str, Any] | None = None):
        super().__init__(message, code=code, status=409, details=details)


class Forbidden(ApplicationError):
    def __init__(
        self,
        message: str = "You may not do this.",
        *,
        code: str = "permission_denied",
        details: dict[str, Any] | None = None,
    ):
        super().__init__(message, code=code, status=403, details=details)


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": code, "message": _sentence(message), "details": details or {}}


def _sentence(message: str) -> str:
    """A message ends as a sentence does, whoever wrote it (DRF's parse errors and PyJWT's reasons do not)."""
    message = message.strip()
    return message if message.endswith((".", "!", "?")) else f"{message}."


def _first_message(detail: Any, path: str = "") -> str:
    """The first leaf message with the field it belongs to, e.g. ``choices.0.text: This field is required.``"""
    if isinstance(detail, dict):
        for field, value in detail.items():
            inner = "" if field in {"non_field_errors", "__all__"} else str(field)
            return _first_message(value, f"{path}.{inner}".strip(".") if inner else path)
    elif isinstance(detail, list):
        for index, value in enumerate(detail):
            if isinstance(value, (dict, list)):
                return _first_message(value, f"{path}.{index}".strip("."))
            return _first_message(value, path)
    return f"{path}: {detail}" if path else str(detail)


def _validation_details(detail: Any) -> dict[str, Any]:
    if isinstance(detail, dict):
        return dict(detail)
    return {"non_field_errors": detail if isinstance(detail, list) else [detail]}


def _from_django_validation_error(error: DjangoValidationError) -> exceptions.ValidationError:
    if hasattr(error, "error_dict"):
        return exceptions.ValidationError(error.message_dict)
    return exceptions.ValidationError(error.messages)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF ``EXCEPTION_HANDLER``; anything it does not know stays a 500 (a bug, logged by Django)."""
    if isinstance(exc, DjangoValidationError):
        exc = _from_django_validation_error(exc)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, (RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent)):
        # Django would answer these with its HTML 400 page; the client needs to know which limit it hit.
        exc = exceptions.ParseError(str(exc))

    if isinstance(exc, ApplicationError):
        # Same side effect DRF's handler has: an atomic request rolls back.
        from rest_framework.views import set_rollback

        set_rollback()
        return Response(error_body(exc.code, exc.message, exc.details), status=exc.status)

    response = drf_exception_handler(exc, context)  # keeps WWW-Authenticate and Retry-After
    if response is None or not isinstance(exc, exceptions.APIException):
        return response

    if isinstance(exc, exceptions.ValidationError):
        details = _validation_details(exc.detail)
        response.data = error_body("invalid", _first_message(details) or "Invalid input.", details)
        return response

    code = exc.detail.code if isinstance(exc.detail, exceptions.ErrorDetail) else exc.default_code
    details = {}
    if isinstance(exc, exceptions.Throttled) and exc.wait is not None:  # type: ignore[attr-defined]  # set in its __init__
        details["retry_after_seconds"] = int(response.get("Retry-After") or 0)
    if isinstance(exc.detail, dict):
        details.update(exc.detail)
        message = str(exc.default_detail)
    else:
        message = str(exc.detail)
    response.data = error_body(str(code), message, details)
    return response


def bad_request(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    """``handler400``: what Django refuses before any view runs (a Host not in ALLOWED_HOSTS, another
    SuspiciousOperation) would otherwise get its HTML page."""
    return JsonResponse(
        error_body("bad_request", "The request was refused: its Host or another header is not acceptable.", {}),
        status=status.HTTP_400_BAD_REQUEST,
    )


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    """``handler403`` for a PermissionDenied raised outside DRF views."""
    return JsonResponse(error_body("permission_denied", "You may not do this.", {}), status=status.HTTP_403_FORBIDDEN)


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    """``handler404`` for URLs outside DRF views."""
    return JsonResponse(
        error_body("not_found", f"No endpoint at {request.path}.", {}), status=status.HTTP_404_NOT_FOUND
    )


def server_error(request: HttpRequest) -> JsonResponse:
    """``handler500``: the cause is in the logs, never in the body."""
    return JsonResponse(
        error_body("server_error", "Something went wrong on our side; it has been logged.", {}),
        status=status.HTTP_500_INTERNAL_SERVER_ERROR,
    )
