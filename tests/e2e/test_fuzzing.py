"""Every service's OpenAPI schema, fuzzed through the gateway with schemathesis: generated valid and invalid
requests never get a 500, and every answer (errors included) has a status, schema and content type the schema
documents."""

import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.e2e.conftest import register_and_login, start_on_real_infrastructure

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
CHECKS = "not_a_server_error,status_code_conformance,response_schema_conformance,content_type_conformance"


@pytest.fixture(scope="module")
def authorization(platform) -> str:
    with platform.client() as client:
        return register_and_login(client, f"fuzz-{uuid.uuid4().hex[:6]}")["Authorization"]


@pytest.mark.parametrize("platform", [start_on_real_infrastructure], indirect=True, ids=["postgresql-kafka"])
@pytest.mark.parametrize("api", ["auth", "polls", "choices", "votes"])
def test_generated_requests_get_no_server_error_and_schema_conformant_answers(platform, authorization, api):
    fuzz = subprocess.run(
        [
            str(SCHEMATHESIS), "run", f"{platform.url}/api/{api}/schema/", "--url", platform.url,
            "--checks", CHECKS, "--max-examples", "40", "--header", f"Authorization: {authorization}",
            "--no-color",
        ],
        capture_output=True, text=True, timeout=300,
    )
    assert fuzz.returncode == 0, fuzz.stdout[-6000:] + fuzz.stderr[-2000:]
