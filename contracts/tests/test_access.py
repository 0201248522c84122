"""The bus's rights, derived from the contracts alone: one principal per service of services.toml, each writing only
the topics of the types it owns and reading only those it consumes."""

import re
from pathlib import Path

import fleet

from event_contracts import OWNERS, access

# The list of this tree (a clone has its own), whichever checkout the virtualenv's fleet is in.
LIST = Path(__file__).resolve().parents[2] / "services.toml"


def test_every_service_of_the_list_and_only_those_has_a_principal():
    listed = {service.service_name for service in fleet.load(LIST)}
    assert set(access.access()) == listed


def test_a_topic_has_one_writer_its_types_owner():
    rights = access.access()
    for event_type, owner in OWNERS.items():
        writers = {service for service, r in rights.items() if access.topic_of(event_type) in r.writes}
        assert writers == {owner}, event_type


def test_kafka_acls_grant_writes_to_owners_and_dead_letter_topics_only():
    from confluent_kafka.admin import AclOperation, ResourceType

    writes = {(b.principal, b.name) for b in access.kafka_acls("p.")
              if b.restype == ResourceType.TOPIC and b.operation == AclOperation.WRITE}
    assert ("User:polls-service", "p.poll") in writes and ("User:vote-service", "p.poll.dlq") in writes
    assert ("User:choice-service", "p.poll") not in writes and ("User:polls-service", "p.user") not in writes


def test_rabbitmq_write_permissions_reach_only_the_owners_streams_under_any_prefix():
    permissions = access.rabbitmq_permissions()
    _, write, read = permissions["choice-service"]
    assert re.match(write, "e2e-1.choice.3") and re.match(write, "poll.dlq.0")
    assert not re.match(write, "poll.0") and not re.match(write, "e2e-1.user.2") and not re.match(write, "amq.default")
    assert re.match(read, "e2e-1.poll.1")
