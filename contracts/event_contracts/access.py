"""Who may do what on the event bus, derived from the contracts alone: each event type's owner (``x-producer``)
alone writes its topic; its consumers (``x-consumers``) read it, write its dead-letter topic and keep their own
consumer group. One principal per service, named as the service (the envelope's ``source``).

    python -m event_contracts.access grant-kafka [--prefix P]   upsert each service's SCRAM credentials and ACLs
    python -m event_contracts.access rabbitmq --secret S         each service's user and permission regexes

Both broker setups read this: `infra/infra.sh` (RabbitMQ users), `dev/run.py` (Kafka, under its topic prefix),
and the cluster's grant Job (deploy/helm/polls-platform). Nothing here is hand-written per service.
The module needs only the standard library, except ``grant-kafka`` (confluent-kafka), so that `infra/infra.sh` can
run it by path with any Python 3.11.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PACKAGE = Path(__file__).resolve().parent
EVENTS = PACKAGE / "events" if (PACKAGE / "events").exists() else PACKAGE.parent / "events"
DEAD_LETTER_SUFFIX = ".dlq"
# The Kafka principal that may do anything (super.users): test fixtures, ad-hoc topics, this module's grants.
ADMIN = "admin"
SCRAM_ITERATIONS = 8192


@dataclass
class Access:
    """One service's rights, as topic names without the platform's prefix."""

    writes: set[str] = field(default_factory=set)
    reads: set[str] = field(default_factory=set)

    @property
    def dead_letters(self) -> set[str]:
        return {topic + DEAD_LETTER_SUFFIX for topic in self.reads}


def topic_of(event_type: str) -> str:
    """As django-events' ``topic_for``: an event type's topic is its first segment."""
    return event_type.split(".", 1)[0]


def access(events: Path = EVENTS) -> dict[str, Access]:
    """Service -> its access, from every contract's owner and consumers."""
    found: dict[str, Access] = {}
    for path in sorted(events.glob("*/v*.json")):
        schema = json.loads(path.read_text())
        topic = topic_of(path.parent.name)
        found.setdefault(schema["x-producer"], Access()).writes.add(topic)
        for consumer in schema.get("x-consumers", []):
            found.setdefault(consumer, Access()).reads.add(topic)
    owners: dict[str, str] = {}
    for service, rights in sorted(found.items()):
        for topic in rights.writes:
            if owners.setdefault(topic, service) != service:
                raise ValueError(f"topic {topic} has two owners, {owners[topic]} and {service}: a topic has one")
    return found


def derived_password(secret: str, principal: str) -> str:
    """A service's password on a development broker, derived from the administrator's: stable across runs, and
    no secret beyond the one that already opens everything."""
    return hmac.new(secret.encode(), principal.encode(), hashlib.sha256).hexdigest()


# Kafka: literal ACLs on the prefixed topic names; groups by prefix (the group is TOPIC_PREFIX + service, and
# rebuilds use it too).


def kafka_acls(prefix: str = "", events: Path = EVENTS) -> list[Any]:
    from confluent_kafka.admin import AclBinding, AclOperation, AclPermissionType, ResourcePatternType, ResourceType

    def allow(kind: Any, name: str, operation: Any, principal: str, pattern: Any = ResourcePatternType.LITERAL) -> Any:
        return AclBinding(kind, name, pattern, f"User:{principal}", "*", operation, AclPermissionType.ALLOW)

    bindings = []
    for service, rights in sorted(access(events).items()):
        for topic in sorted(rights.writes | rights.dead_letters):
            for operation in (AclOperation.WRITE, AclOperation.DESCRIBE, AclOperation.CREATE):
                bindings.append(allow(ResourceType.TOPIC, prefix + topic, operation, service))
        for topic in sorted(rights.reads):
            for operation in (AclOperation.READ, AclOperation.DESCRIBE, AclOperation.CREATE):
                bindings.append(allow(ResourceType.TOPIC, prefix + topic, operation, service))
        for operation in (AclOperation.READ, AclOperation.DESCRIBE):
            bindings.append(allow(ResourceType.GROUP, prefix + service, operation, service, ResourcePatternType.PREFIXED))
    return bindings


def grant_kafka(client: dict[str, Any], passwords: dict[str, str], prefix: str = "", timeout: float = 30.0) -> None:
    """Upserts each service's SCRAM-SHA-512 credentials and creates its ACLs (both idempotent), as ``client``
    (the administrator's confluent-kafka settings)."""
    from confluent_kafka.admin import AdminClient, ScramCredentialInfo, ScramMechanism, UserScramCredentialUpsertion

    admin = AdminClient(client)
    info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, SCRAM_ITERATIONS)
    upserts: list[Any] = [
        UserScramCredentialUpsertion(user, info, password.encode()) for user, password in sorted(passwords.items())
    ]
    for future in admin.alter_user_scram_credentials(upserts, request_timeout=timeout).values():
        future.result(timeout)
    for future in admin.create_acls(kafka_acls(prefix), request_timeout=timeout).values():
        future.result(timeout)


# RabbitMQ: a topic's partitions are streams <prefix><topic>.<n>, each reached through an exchange of the same name
# (django-events' RabbitMQ transport). Write on an exchange is what publishing needs; the owner alone has it.
# The regexes allow any prefix: the platform's prefix is a deployment's choice, the topic's owner is not.


def _names(topics: set[str]) -> str:
    alternatives = "|".join(sorted(re.escape(t) for t in topics))
    return rf"^(.+\.)?({alternatives})\.[0-9]+$" if topics else "^$"


def rabbitmq_permissions(events: Path = EVENTS) -> dict[str, tuple[str, str, str]]:
    """Service -> (configure, write, read) regexes."""
    permissions = {}
    for service, rights in sorted(access(events).items()):
        published = rights.writes | rights.dead_letters
        everything = _names(published | rights.reads)
        permissions[service] = (everything, _names(published), everything)
    return permissions


def rabbitmq_definitions(secret: str, events: Path = EVENTS) -> dict[str, Any]:
    """The users and permissions as RabbitMQ definitions (``rabbitmqctl import_definitions``: one call for all),
    each password stored as RabbitMQ's salted SHA-256 hash of the one derived from ``secret``."""
    users, permissions = [], []
    for service, (configure, write, read) in rabbitmq_permissions(events).items():
        salt = os.urandom(4)
        digest = hashlib.sha256(salt + derived_password(secret, service).encode()).digest()
        users.append({"name": service, "password_hash": base64.b64encode(salt + digest).decode(),
                      "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": ""})
        permissions.append({"user": service, "vhost": "/", "configure": configure, "write": write, "read": read})
    return {"users": users, "permissions": permissions}


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m event_contracts.access", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    grant = commands.add_parser("grant-kafka", help="SCRAM credentials and ACLs, as the administrator in $KAFKA_SASL_*")
    grant.add_argument("--prefix", default=os.environ.get("KAFKA_TOPIC_PREFIX", ""))
    grant.add_argument("--passwords", help="a directory holding one file per service, its password "
                                           "(default: derived from the administrator's)")
    rabbitmq = commands.add_parser("rabbitmq", help="print the users and permissions as RabbitMQ definitions (JSON)")
    rabbitmq.add_argument("--secret", required=True, help="the administrator's password, which the services' derive from")
    commands.add_parser("services", help="print the services that use the bus, one a line")
    args = parser.parse_args()
    if args.command == "rabbitmq":
        print(json.dumps(rabbitmq_definitions(args.secret), indent=2))
        return 0
    if args.command == "services":
        print(*sorted(access()), sep="\n")
        return 0
    client = {"bootstrap.servers": os.environ["KAFKA_BOOTSTRAP_SERVERS"],
              "security.protocol": os.environ.get("KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT"),
              "sasl.mechanism": os.environ.get("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512"),
              "sasl.username": os.environ["KAFKA_SASL_USERNAME"], "sasl.password": os.environ["KAFKA_SASL_PASSWORD"]}
    if os.environ.get("KAFKA_SSL_CA_LOCATION"):
        client["ssl.ca.location"] = os.environ["KAFKA_SSL_CA_LOCATION"]
    if args.passwords:
        passwords = {s: (Path(args.passwords) / s).read_text().strip() for s in access()}
    else:
        passwords = {s: derived_password(client["sasl.password"], s) for s in access()}
    grant_kafka(client, passwords, args.prefix)
    print(f"granted {', '.join(sorted(passwords))} their topics under prefix {args.prefix!r}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
