"""The Kafka rights the contracts do not name while the seams move out of the monolith (docs/migration.md): the
monolith writes the topics of the events it publishes (poll.created, choice.created, vote.cast) and reads what its
seams' services publish back (vote, choice and poll topics) with a consumer group of its own; each seam's service
reads the monolith's events of its own family (MIGRATING_FROM): vote-service vote.cast, choice-service choice.*,
polls-service poll.*. Run in a pod the platform's Kafka admits, with the administrator's password in
KAFKA_ADMIN_PASSWORD and the monolith's (its Secret `monolith-kafka`, which the platform release makes for
`services.monolith`) in MONOLITH_KAFKA_PASSWORD, as docs/migration.md does. Idempotent."""

import os

from confluent_kafka.admin import (
    AclBinding,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)

RIGHTS = {"monolith": {"write": ["poll", "choice", "vote", "poll.dlq", "choice.dlq", "vote.dlq"],
                       "read": ["poll", "choice", "vote"]},
          "vote-service": {"write": ["vote.dlq"], "read": ["vote"]},
          "choice-service": {"write": ["choice.dlq"], "read": ["choice"]},
          "polls-service": {"write": ["poll.dlq"], "read": ["poll"]}}
GROUPS = ["monolith"]


def allow(kind, name, operation, principal, pattern=ResourcePatternType.LITERAL):
    return AclBinding(kind, name, pattern, f"User:{principal}", "*", operation, AclPermissionType.ALLOW)


prefix = os.environ.get("KAFKA_TOPIC_PREFIX", "")
acls = [allow(ResourceType.GROUP, prefix + group, operation, group, ResourcePatternType.PREFIXED)
        for group in GROUPS for operation in (AclOperation.READ, AclOperation.DESCRIBE)]
for principal, topics in RIGHTS.items():
    acls += [allow(ResourceType.TOPIC, prefix + topic, operation, principal) for topic in topics["write"]
             for operation in (AclOperation.WRITE, AclOperation.DESCRIBE, AclOperation.CREATE)]
    acls += [allow(ResourceType.TOPIC, prefix + topic, operation, principal) for topic in topics["read"]
             for operation in (AclOperation.READ, AclOperation.DESCRIBE)]
acls = list(dict.fromkeys(acls))  # a topic both written and read is described once: the broker refuses duplicates
admin = AdminClient({"bootstrap.servers": os.environ["KAFKA_BOOTSTRAP_SERVERS"], "security.protocol": "SASL_PLAINTEXT",
                     "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "admin",
                     "sasl.password": os.environ["KAFKA_ADMIN_PASSWORD"]})
# The platform's grant Job makes the credentials of the contracts' principals only: the monolith's, from its Secret.
if os.environ.get("MONOLITH_KAFKA_PASSWORD"):
    scram = UserScramCredentialUpsertion("monolith", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192),
                                         os.environ["MONOLITH_KAFKA_PASSWORD"].encode())
    for future in admin.alter_user_scram_credentials([scram], request_timeout=30).values():
        future.result(30)
for future in admin.create_acls(acls, request_timeout=30).values():
    future.result(30)
print(f"granted {len(acls)} ACLs")
