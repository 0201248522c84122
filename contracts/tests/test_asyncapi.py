"""docs/asyncapi.json: generated from the catalogue, describing each event as it travels, and valid by the AsyncAPI
initiative's own parser (@asyncapi/parser, Node.js, from interop/)."""

import json
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django_events.envelope import Event
from jsonschema import Draft7Validator

from event_contracts import CATALOGUE, asyncapi

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = ROOT / "docs" / "asyncapi.json"
SCHEMAS = list(CATALOGUE.schemas())


def test_docs_asyncapi_json_is_generated_from_the_catalogue():
    assert DOCUMENT.read_text() == asyncapi.render(), "run: python -m event_contracts asyncapi > docs/asyncapi.json"


@pytest.mark.parametrize(("event_type", "version", "schema"), SCHEMAS, ids=[f"{t}/v{v}" for t, v, _ in SCHEMAS])
def test_each_contract_is_a_message_on_its_topic_sent_by_its_owner(event_type, version, schema):
    document = asyncapi.document()
    topic, name = event_type.split(".", 1)[0], f"{event_type}.v{version}"
    message = document["components"]["messages"][name]
    assert document["channels"][topic]["messages"][name] == {"$ref": f"#/components/messages/{name}"}
    assert message["payload"]["properties"]["data"] == {k: v for k, v in schema.items() if k != "$schema"}
    assert message["payload"]["properties"]["source"] == {"const": schema["x-producer"],
                                                          "description": "the publishing service"}
    sent = document["operations"][f"{schema['x-producer']}.send.{topic}"]
    assert {"$ref": f"#/channels/{topic}/messages/{name}"} in sent["messages"]


def test_what_django_events_puts_on_the_wire_matches_the_message_payload():
    """An event as the library serialises it (0.1's field names included) validates against its message's payload."""
    if not settings.configured:  # the contracts' tests run without a Django project; the envelope reads settings
        settings.configure()
    data = {"vote_id": str(uuid.uuid4()), "poll_id": str(uuid.uuid4()), "choice_id": str(uuid.uuid4()),
            "voter_id": "7", "created_at": "2026-01-01T00:00:00+00:00"}
    event = Event(type="vote.cast", key=data["poll_id"], data=data, source="vote-service",
                  dataschema=CATALOGUE.schema("vote.cast", 1)["$id"], correlation_id="c-1")
    payload = asyncapi.document()["components"]["messages"]["vote.cast.v1"]["payload"]
    errors = list(Draft7Validator(payload, format_checker=Draft7Validator.FORMAT_CHECKER).iter_errors(event.to_dict()))
    assert not errors, [e.message for e in errors]


def test_the_asyncapi_parser_finds_the_document_valid():
    node = shutil.which("node")
    if not (node and (ROOT / "interop" / "node_modules").is_dir()):
        pytest.skip("needs Node.js and `make interop` (make test-libs runs it)")
    checked = subprocess.run([node, "validate-asyncapi.mjs", str(DOCUMENT)], cwd=ROOT / "interop",
                             capture_output=True, text=True, timeout=120)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    verdict = json.loads(checked.stdout.splitlines()[-1])
    assert verdict == {"valid": True, "version": "3.0.0", "channels": 4, "messages": len(SCHEMAS),
                       "operations": verdict["operations"]}
