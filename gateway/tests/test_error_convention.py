"""The error convention's inventory (docs/errors.md): every code the platform answers is in its vocabulary with its
status, nothing there is stale, and the gateway's own bodies pass the check every service's suite runs on its
error responses (service_kit.testing.assert_error_body)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from service_kit.testing import assert_error_body

from gateway import edge

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "errors.md"
# Where codes are raised: the services, the template a new service is made from, the kit every service installs.
SOURCES = [ROOT / "services", ROOT / "templates" / "service", ROOT / "libs" / "django-service-kit" / "src"]
RAISED = [
    re.compile(r"""\bcode=["']([a-z0-9_]+)["']"""),
    re.compile(r"""\bdefault_code = ["']([a-z0-9_]+)["']"""),
    re.compile(r"""\berror_body\(\s*["']([a-z0-9_]+)["']"""),
]
NOT_KNOWN = re.compile(r"""\bNotKnownYet\(\s*["']([a-z0-9_]+)["']""")
ROW = re.compile(r"^\| `([a-z0-9_]+)` \| (\d{3}) \|", re.MULTILINE)
# Raised by Django REST framework itself and mapped by the kit's handler: not in our sources, but in the table.
DRF_CODES = {"parse_error", "not_authenticated", "authentication_failed", "method_not_allowed", "not_acceptable",
             "unsupported_media_type", "throttled"}


def _vocabulary() -> dict[str, int]:
    return {code: int(status) for code, status in ROW.findall(DOC.read_text())}


def _source_files() -> list[Path]:
    return [
        path
        for root in SOURCES
        for path in root.rglob("*")
        if path.suffix in {".py", ".jinja"} and "tests" not in path.parts and "migrations" not in path.parts
    ]


def _raised_codes() -> dict[str, set[str]]:
    raised: dict[str, set[str]] = {}
    for path in _source_files():
        text = path.read_text()
        codes = {code for pattern in RAISED for code in pattern.findall(text)}
        codes |= {f"{what}_not_known" for what in NOT_KNOWN.findall(text)}
        for code in codes:
            raised.setdefault(code, set()).add(str(path.relative_to(ROOT)))
    return raised


def test_every_code_raised_is_in_the_vocabulary() -> None:
    vocabulary = _vocabulary()
    missing = {code: sorted(paths) for code, paths in _raised_codes().items() if code not in vocabulary}
    assert not missing, f"codes raised but not in docs/errors.md: {missing}"


def test_every_code_in_the_vocabulary_is_answered_by_someone() -> None:
    answered = set(_raised_codes()) | set(edge.ERRORS) | DRF_CODES
    stale = sorted(set(_vocabulary()) - answered)
    assert not stale, f"docs/errors.md lists codes nobody answers: {stale}"


@pytest.mark.parametrize("code", sorted(edge.ERRORS))
def test_the_gateway_answers_by_the_convention(code: str) -> None:
    assert _vocabulary().get(code) == edge.error_status(code), f"{code}: status differs from docs/errors.md"
    assert_error_body(json.loads(edge.error_body(code)), edge.error_status(code))

