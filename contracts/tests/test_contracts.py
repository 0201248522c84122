"""The catalogue: valid schemas, the docs generated from it, and no published version broken."""

import dataclasses
import json
from pathlib import Path

import pytest
from django_events.contracts import breaking_changes, payload_problems
from jsonschema import Draft202012Validator

from event_contracts import CATALOGUE, OWNERS, PUBLISHED, owners_while_migrating, payloads
from event_contracts.__main__ import docs

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = list(CATALOGUE.schemas())
PUBLISHED_SCHEMAS = json.loads(PUBLISHED.read_text())


@pytest.mark.parametrize(("event_type", "version", "schema"), SCHEMAS, ids=[f"{t}/v{v}" for t, v, _ in SCHEMAS])
def test_each_contract_is_a_valid_schema_of_an_object_with_its_metadata(event_type, version, schema):
    Draft202012Validator.check_schema(schema)
    assert schema["type"] == "object" and schema["title"] == f"{event_type} v{version}"
    assert schema["x-key"] and schema["x-producer"].endswith("-service")
    assert set(schema["required"]) <= set(schema["properties"])


def test_docs_events_md_is_generated_from_the_catalogue():
    assert (ROOT / "docs" / "events.md").read_text() == docs(), "run: python -m event_contracts docs > docs/events.md"


def test_every_version_is_recorded_as_published():
    current = {f"{t}/v{v}" for t, v, _ in SCHEMAS}
    assert current - set(PUBLISHED_SCHEMAS) == set(), "new versions: run python -m event_contracts publish"
    assert set(PUBLISHED_SCHEMAS) - current == set(), "a published version was deleted; consumers may still read it"


@pytest.mark.parametrize("key", sorted(PUBLISHED_SCHEMAS))
def test_no_published_version_is_broken(key):
    event_type, version = key.rsplit("/v", 1)
    problems = breaking_changes(PUBLISHED_SCHEMAS[key], CATALOGUE.schema(event_type, int(version)))
    assert not problems, f"{key} breaks its consumers without a new version: " + "; ".join(problems)


@pytest.mark.parametrize("payload", payloads.ALL, ids=lambda p: p.__name__)
def test_each_typed_payload_reads_only_what_its_contract_promises(payload):
    assert payload_problems(payload, CATALOGUE) == []


def test_every_event_version_consumed_has_a_typed_payload_of_all_its_required_fields():
    typed = {(p.event_type, p.version): p for p in payloads.ALL}
    for event_type, version, schema in SCHEMAS:
        if not schema["x-consumers"]:
            continue
        payload = typed[(event_type, version)]
        assert dataclasses.is_dataclass(payload), payload.__name__
        assert set(schema["required"]) <= {f.name for f in dataclasses.fields(payload)}, payload.__name__


def test_while_a_seam_moves_the_monolith_is_believed_beside_the_owners_of_its_families_alone():
    owners = owners_while_migrating("monolith", ("poll", "choice"))

    assert owners["poll.created"] == [OWNERS["poll.created"], "monolith"]
    assert owners["choice.deleted"] == [OWNERS["choice.deleted"], "monolith"]
    assert owners["vote.cast"] == OWNERS["vote.cast"]
    assert owners_while_migrating("", ("poll",)) == OWNERS
