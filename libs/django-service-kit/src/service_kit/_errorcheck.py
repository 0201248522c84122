"""The error convention (docs/errors.md) as a check: what every error body of every service must look like.

``error_body_problems(body, status)`` lists what breaks it; ``assert_error_body`` and ``assert_error`` fail a
test with that list. The pytest plugin runs it on every error response a test client receives.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["RETIRED_CODES", "assert_error", "assert_error_body", "error_body_problems"]

CODE = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")
# A sentence for a person, optionally after the input field it is about (``choices.1.text: This field ...``).
MESSAGE = re.compile(r"(?:[A-Za-z0-9_.\-]+: )?[A-Z0-9\"'(].*[.!?]", re.DOTALL)
# Codes that once meant what another code means; a service answering one has drifted.
RETIRED_CODES = {"forbidden": "permission_denied"}
RESOURCE_CODE = re.compile(r"(?P<what>[a-z0-9_]+)_not_(?:found|known)")


def _field_messages(value: Any) -> bool:
    """DRF's shape of a field's errors: a list of messages, or for nested input the same per nested field."""
    if isinstance(value, list):
        return bool(value) and all(isinstance(item, str) or _field_messages(item) for item in value)
    if isinstance(value, dict):
        return all(_field_messages(item) for item in value.values())
    return False


def _detail_problems(details: dict[str, Any]) -> list[str]:
    problems = []
    for key, value in details.items():
        if key.endswith("_id") and isinstance(value, str):
            continue  # the resource the error is about
        if key.endswith("_seconds") and isinstance(value, int) and not isinstance(value, bool):
            continue  # a duration, as Retry-After gives it
        if _field_messages(value):
            continue  # an input field's messages
        problems.append(
            f"details.{key} is {value!r}: ids are strings under <what>_id, durations whole numbers under "
            "<what>_seconds, an input field's errors a list of messages"
        )
    return problems


def _code_problems(code: str, status: int | None, details: dict[str, Any]) -> list[str]:
    problems = []
    if code in RETIRED_CODES:
        problems.append(f"error {code!r} is retired: the convention's code is {RETIRED_CODES[code]!r}")
    resource = RESOURCE_CODE.fullmatch(code)
    if resource and not isinstance(details.get(f"{resource['what']}_id"), str):
        problems.append(f"error {code!r} names no details.{resource['what']}_id")
    if code == "invalid" and not details:
        problems.append("error 'invalid' says nothing of which input is invalid (empty details)")
    if status == 429 and not isinstance(details.get("retry_after_seconds"), int):
        problems.append("a 429 gives no details.retry_after_seconds")
    return problems


def error_body_problems(body: Any, status: int | None = None) -> list[str]:
    """What in ``body`` (parsed JSON) breaks the error convention; empty when nothing does."""
    if not isinstance(body, dict) or set(body) != {"error", "message", "details"}:
        return [f"the body is not {{error, message, details}}: {body!r}"]
    code, message, details = body["error"], body["message"], body["details"]
    problems = []
    if not isinstance(code, str) or not CODE.fullmatch(code):
        problems.append(f"error {code!r} is not a snake_case code")
    if not isinstance(message, str) or not MESSAGE.fullmatch(message):
        problems.append(f"message {message!r} is not a sentence (a capital first, a full stop last)")
    if not isinstance(details, dict):
        return [*problems, f"details {details!r} is not an object"]
    problems += _detail_problems(details)
    if isinstance(code, str):
        problems += _code_problems(code, status, details)
    return problems


def assert_error_body(body: Any, status: int | None = None) -> dict[str, Any]:
    problems = error_body_problems(body, status)
    assert not problems, "the error body breaks the convention (docs/errors.md):\n  " + "\n  ".join(problems)
    return body  # type: ignore[no-any-return]  # a dict, once the check passed


def assert_error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """The body of an error ``response`` (Django's or httpx's) after checking its status, code and convention."""
    status_code = getattr(response, "status_code", None)
    assert status_code == status, f"expected {status}, got {status_code}: {_text(response)}"
    body = assert_error_body(json.loads(_text(response)), status)
    assert code is None or body["error"] == code, f"expected error {code!r}, got {body}"
    return body


def _text(response: Any) -> str:
    content = getattr(response, "content", b"")
    return content.decode() if isinstance(content, bytes) else str(content)
