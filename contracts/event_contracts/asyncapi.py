"""The platform's events as an AsyncAPI 3.0 document (docs/asyncapi.json), generated from the catalogue.

A channel per topic (the first segment of the type), a message per event type and version whose payload is the
CloudEvent that travels (structured mode: django-events' envelope.py) with the contract's JSON Schema as its
``data``, a ``send`` operation per producing service and channel and a ``receive`` operation per consuming service.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from . import CATALOGUE

CONTENT_TYPE = "application/cloudevents+json"
PARTITIONS = 4  # django-events' TOPIC_PARTITIONS, which the platform keeps

DESCRIPTION = """The events the polls platform's services publish, on Apache Kafka or on RabbitMQ streams.

Every event is a [CloudEvent](https://cloudevents.io) 1.0 in structured mode: the message body is the CloudEvents
JSON format (content type `application/cloudevents+json`) and the CloudEvents SDKs read it as it is. `source` is the
publishing service, `dataschema` the `$id` of the contract of `data`, and two extension attributes carry the
contract's version (`eventversion`) and the request that caused the event (`correlationid`). `partitionkey` is the
aggregate's id: the Kafka message key, so one aggregate's events stay in order. While consumers of django-events
0.1 may read the topics, bodies also carry its field names (`version`, `occurred_at`, `key`, `correlation_id`).

On Kafka a channel is a topic (behind the platform's topic prefix, if it has one). On RabbitMQ it is
4 streams, `<topic>.0` to `<topic>.3`, an event going to the stream of CRC-32 of its key modulo 4; a stream is read
with `x-stream-offset`. `docs/events.md` says how a team in another stack consumes them."""


def _message_name(event_type: str, version: int) -> str:
    return f"{event_type}.v{version}"


def _payload(event_type: str, version: int, schema: dict[str, Any]) -> dict[str, Any]:
    data = {k: v for k, v in schema.items() if k != "$schema"}
    return {
        "type": "object",
        "required": ["specversion", "id", "source", "type", "time", "datacontenttype", "partitionkey", "eventversion",
                     "data"],
        "properties": {
            "specversion": {"const": "1.0"},
            "id": {"type": "string", "format": "uuid", "description": "unique per event: consumers deduplicate by it"},
            "source": {"const": schema["x-producer"], "description": "the publishing service"},
            "type": {"const": event_type},
            "time": {"type": "string", "format": "date-time", "description": "when the change committed"},
            "datacontenttype": {"const": "application/json"},
            "dataschema": {"const": schema["$id"], "description": "the $id of the contract of data"},
            "partitionkey": {"type": "string", "description": f"the {schema['x-key']}: the message key"},
            "eventversion": {"const": version, "description": "the contract's version (extension attribute)"},
            "correlationid": {"type": "string", "description": "the request that caused it (extension attribute)"},
            "data": data,
        },
    }


HEADERS = {
    "type": "object",
    "description": "Kafka headers and RabbitMQ message headers (RabbitMQ: content-type is the message property)",
    "properties": {
        "content-type": {"const": CONTENT_TYPE},
        "event_id": {"type": "string", "description": "the CloudEvent's id"},
        "event_type": {"type": "string", "description": "the CloudEvent's type"},
        "event_version": {"type": "string", "description": "its eventversion"},
    },
}


def document() -> dict[str, Any]:
    messages: dict[str, Any] = {}
    channels: dict[str, Any] = {}
    sends: dict[tuple[str, str], list[str]] = defaultdict(list)
    receives: dict[tuple[str, str], list[str]] = defaultdict(list)
    for event_type, version, schema in CATALOGUE.schemas():
        topic = event_type.split(".", 1)[0]
        name = _message_name(event_type, version)
        messages[name] = {
            "name": event_type,
            "title": f"{event_type} v{version}",
            "summary": schema.get("description", ""),
            "contentType": CONTENT_TYPE,
            "headers": HEADERS,
            "payload": _payload(event_type, version, schema),
            "tags": [{"name": schema["x-producer"]}],
            "bindings": {"kafka": {"key": {"type": "string", "description": schema["x-key"]}}},
            "x-producer": schema["x-producer"],
            "x-consumers": schema.get("x-consumers", []),
        }
        channel = channels.setdefault(topic, {
            "address": topic,
            "title": f"{topic} events",
            "description": f"The `{topic}` topic; on RabbitMQ the streams `{topic}.0` to `{topic}.{PARTITIONS - 1}`.",
            "messages": {},
            "bindings": {"kafka": {"partitions": PARTITIONS}},
        })
        channel["messages"][name] = {"$ref": f"#/components/messages/{name}"}
        sends[(schema["x-producer"], topic)].append(name)
        for consumer in schema.get("x-consumers", []):
            receives[(consumer, topic)].append(name)
    operations: dict[str, Any] = {}
    for action, grouped in (("send", sends), ("receive", receives)):
        for (service, topic), names in sorted(grouped.items()):
            operations[f"{service}.{action}.{topic}"] = {
                "action": action,
                "title": f"{service} {'publishes' if action == 'send' else 'consumes'} {topic} events",
                "channel": {"$ref": f"#/channels/{topic}"},
                "messages": [{"$ref": f"#/channels/{topic}/messages/{name}"} for name in names],
                "tags": [{"name": service}],
            }
    return {
        "asyncapi": "3.0.0",
        "info": {"title": "Polls platform events", "version": "1.0.0", "description": DESCRIPTION},
        "defaultContentType": CONTENT_TYPE,
        "servers": {
            "kafka": {"host": "127.0.0.1:9092", "protocol": "kafka",
                      "description": "Apache Kafka (KAFKA_BOOTSTRAP_SERVERS); SASL/TLS as the deployment configures"},
            "rabbitmq": {"host": "127.0.0.1:5672", "protocol": "amqp", "protocolVersion": "0.9.1",
                         "description": "RabbitMQ streams (RABBITMQ_URL), read over AMQP 0-9-1"},
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }


def render() -> str:
    return json.dumps(document(), indent=2) + "\n"
