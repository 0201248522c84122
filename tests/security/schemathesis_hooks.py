"""Loaded by schemathesis (SCHEMATHESIS_HOOKS) in the fuzzing run: the rules a JSON Schema cannot say.

positive_data_acceptance sends schema-valid bodies and expects them accepted. Three rules of the services are
beyond JSON Schema: a poll's `closes_at` must lie in the future, a password must pass Django's validators
(not common, not like the username, not all digits), and a password change needs the current password (which
the fuzzer cannot know); and DRF refuses U+0000 in any string. A 400 that names
exactly that rule, for a body that breaks it, is the documented answer, not a failure; every other rejection of
valid data still fails the run."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import schemathesis


def _closes_in_the_past(body: Any) -> bool:
    try:
        closes_at = datetime.fromisoformat(str(body["closes_at"]).replace("Z", "+00:00"))
    except (KeyError, TypeError, ValueError):
        return False
    if closes_at.tzinfo is None:
        closes_at = closes_at.replace(tzinfo=UTC)
    return closes_at <= datetime.now(UTC)


NULL_CHARACTERS = ["Null characters are not allowed."]


def _is_the_rule_beyond_the_schema(case: Any, answer: dict[str, Any]) -> bool:
    if answer.get("error") == "weak_password" and case.path == "/api/auth/register/":
        return True
    if answer.get("error") in ("wrong_password", "weak_password") and case.path == "/api/auth/password/":
        return True
    # Every DRF CharField refuses U+0000; the schemas do not say so yet (a `pattern` on every string would).
    details = answer.get("details")
    if isinstance(details, dict) and details and all(value == NULL_CHARACTERS for value in details.values()):
        return "\\u0000" in json.dumps(case.body)
    return answer.get("details") == {"closes_at": ["Must be in the future."]} and _closes_in_the_past(case.body)


@schemathesis.hook
def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
    if failure.code != "ST202" or response.status_code != 400:
        return True
    try:
        answer = response.json()
    except ValueError:
        return True
    return not (isinstance(answer, dict) and _is_the_rule_beyond_the_schema(case, answer))
