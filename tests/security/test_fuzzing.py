"""Every service's OpenAPI schema, fuzzed through the gateway with every schemathesis check: no 500, every answer
(errors included) documented, invalid requests refused, valid ones accepted, no operation reachable without
its token. Rate limits are lifted for this platform only (RATE_LIMITS=off): thousands of requests come from one
address. The rules beyond JSON Schema are in schemathesis_hooks.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import fleet
from tests.security.conftest import LIMITS_OFF, Platform, fresh_user

pytestmark = pytest.mark.parametrize("platform", [LIMITS_OFF], indirect=True)
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
HERE = Path(__file__).resolve().parent
# Each service of the platform's one list serves its schema at <prefix>schema/.
PREFIXES = [service.prefix for service in fleet.load()]


@pytest.mark.parametrize("prefix", PREFIXES)
def test_every_schema_holds_under_every_check(platform: Platform, prefix: str):
    # A user per API: fuzzing auth's DELETE /me deletes the user whose token it sends.
    user = fresh_user(platform.url)
    fuzz = subprocess.run(
        [
            str(SCHEMATHESIS), "run", f"{platform.url}{prefix}schema/", "--url", platform.url,
            "--checks", "all", "--max-examples", "25", "--header", f"Authorization: Bearer {user.access}",
            "--no-color", "--seed", os.environ.get("FUZZ_SEED", "20261126"),
        ],
        capture_output=True, text=True, timeout=600, cwd=HERE,
        env={**os.environ, "SCHEMATHESIS_HOOKS": "schemathesis_hooks", "PYTHONPATH": str(HERE)},
    )
    assert fuzz.returncode == 0, fuzz.stdout[-8000:] + fuzz.stderr[-2000:]
