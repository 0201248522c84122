"""`python -m event_contracts docs` prints docs/events.md from the catalogue, `python -m event_contracts asyncapi`
docs/asyncapi.json; `python -m event_contracts publish`
records new versions (and optional fields added to published ones) in published.json, and refuses a change
that would break a published version's consumers."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from django_events.contracts import breaking_changes

from . import CATALOGUE, PUBLISHED, asyncapi

HEADER = """# Event catalogue

<!-- Generated from contracts/events/ by `python -m event_contracts docs > docs/events.md`: edit the schemas. -->

Every event travels as a [CloudEvent](https://cloudevents.io) 1.0 in structured mode (django-events,
`libs/django-events/README.md`): the message body is the CloudEvents JSON format, content type
`application/cloudevents+json`: `{specversion, id, source, type, time, datacontenttype, dataschema, partitionkey,
eventversion, correlationid, data}`. `source` is the publishing service, `dataschema` the `$id` of the contract,
`eventversion` the contract's version and `correlationid` the request that caused the event (extension attributes);
`partitionkey` is the key below, which is also the message key. Topic = first segment of the type.
Ids are UUID strings, times ISO 8601 UTC. The contract of each type and version is the JSON Schema of its `data`
in `contracts/events/<type>/v<version>.json`; producers' tests validate what they publish against it, and
consumers read typed payloads checked against it. A consumer that meets a version it does not know dead-letters
the event with the reason `unsupported version N of <type>`; it never guesses. The same, for other teams' tools:
the AsyncAPI 3.0 document `docs/asyncapi.json` (`python -m event_contracts asyncapi`; `make asyncapi-html`
renders it).

| type | version | key | producer | data | consumers |
|---|---|---|---|---|---|
"""

FOOTER = """
Rules for changing an event: adding an optional field keeps the version, and so does stating or tightening a
limit the producer enforces (a string's `maxLength`); anything else (removing a field, changing its type, making
it required, raising or dropping a limit, since consumers size their read models to it) is a new version, a new
file beside the old one, and the producer publishes the new version only once every consumer accepts it. Every
string states its limit (a uuid, a date-time or an enum bounds itself): `maxLength` is what its producer accepts,
and the read models of `contracts/read_models/` are checked to hold it. `contracts/published.json` keeps each version as
first published and the contract tests fail on a change that breaks it; `python -m event_contracts publish`
records additions.

## Consuming our events from another stack

No django-events needed: any CloudEvents SDK reads the events (JavaScript, Java, Go, Python, .NET, Rust...).

- **Kafka**: subscribe to the topics (behind the deployment's topic prefix, e.g. `poll`, `vote`) with a consumer
  group of your own; the message key is the aggregate's id, so one poll's events arrive in order. Producers
  compress with LZ4: give your client an LZ4 codec if it has none built in (kafkajs does not). The `content-type`
  header says `application/cloudevents+json`, which is what the CloudEvents Kafka binding looks for; headers
  `event_id`, `event_type` and `event_version` let tools filter without parsing.
- **RabbitMQ**: a topic is 4 streams, `<topic>.0` to `<topic>.3` (by CRC-32 of the key). Read each with a
  prefetch, manual acknowledgements and the consumer argument `x-stream-offset` (`first`, or where you stopped);
  the message property `content_type` is `application/cloudevents+json` and the body is the event.
- Deduplicate by `id` (delivery is at least once) and dispatch on `type` and `eventversion`.
- Until every consumer of django-events 0.1 is upgraded, bodies also carry that version's field names (`version`,
  `occurred_at`, `key`, `correlation_id`): a lenient reader ignores them; a strict one (the Java SDK, or the
  JavaScript SDK's `validate()`) refuses them. A deployment turns them off with `EVENTS_LEGACY_ENVELOPE=off`.

In Node.js with the `cloudevents` SDK and `kafkajs` (the whole consumer, with credentials from the environment, is
`interop/kafka-consumer.mjs`; `interop/amqp-consumer.mjs` reads RabbitMQ with `amqplib`; `make test-e2e` runs
both against the running platform):

```js
import kafkajs from "kafkajs";
import lz4 from "lz4js";
import { Kafka as KafkaBinding } from "cloudevents";

const { CompressionCodecs, CompressionTypes, Kafka } = kafkajs;
CompressionCodecs[CompressionTypes.LZ4] = () => ({
  compress: async (encoder) => Buffer.from(lz4.compress(encoder.buffer)),
  decompress: async (buffer) => Buffer.from(lz4.decompress(buffer)),
});

const consumer = new Kafka({ brokers: process.env.KAFKA_BOOTSTRAP_SERVERS.split(",") })
  .consumer({ groupId: "analytics" });
await consumer.connect();
await consumer.subscribe({ topics: ["poll", "vote"], fromBeginning: true });
await consumer.run({
  eachMessage: async ({ message }) => {
    const headers = Object.fromEntries(Object.entries(message.headers).map(([k, v]) => [k, v?.toString()]));
    const event = KafkaBinding.toEvent({ key: message.key?.toString(), value: message.value, headers });
    if (event.type === "vote.cast" && event.eventversion === 1) {
      console.log(event.id, event.source, event.time, event.data.poll_id, event.data.choice_id);
    }
  },
});
```

Tokens: a service in another stack verifies the platform's access tokens knowing only their issuer (`iss`, the
platform's URL): OpenID discovery at `<issuer>/.well-known/openid-configuration` gives `jwks_uri` and the
algorithm (RS256); `interop/discover.mjs` does it with `openid-client` and `jose`.
"""


def _field(name: str, schema: dict[str, Any], required: set[str]) -> str:
    kind = schema.get("type", "any")
    kinds = " or ".join(kind) if isinstance(kind, list) else kind
    if "enum" in schema:
        kinds = "one of " + "/".join(map(str, schema["enum"]))
    fmt = f" {schema['format']}" if "format" in schema else ""
    fmt += f", at most {schema['maxLength']} characters" if "maxLength" in schema else ""
    optional = "" if name in required else ", optional"
    return f"`{name}` ({kinds}{fmt}{optional})"


def docs() -> str:
    rows = []
    for event_type, version, schema in CATALOGUE.schemas():
        required = set(schema.get("required", []))
        fields = ", ".join(_field(name, s, required) for name, s in schema.get("properties", {}).items())
        consumers = ", ".join(schema.get("x-consumers", [])) or "—"
        rows.append(f"| `{event_type}` | {version} | {schema['x-key']} | {schema['x-producer']} | {fields} | {consumers} |")
    return HEADER + "\n".join(rows) + "\n" + FOOTER


def publish() -> int:
    published = json.loads(PUBLISHED.read_text()) if PUBLISHED.exists() else {}
    broken = []
    for event_type, version, schema in CATALOGUE.schemas():
        key = f"{event_type}/v{version}"
        if key in published:
            broken += [f"{key}: {problem}" for problem in breaking_changes(published[key], schema)]
        published[key] = {k: schema[k] for k in ("properties", "required") if k in schema}
    if broken:
        print("not recorded: these changes need a new version\n  " + "\n  ".join(broken), file=sys.stderr)
        return 1
    PUBLISHED.write_text(json.dumps(published, indent=2, sort_keys=True) + "\n")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m event_contracts", description=__doc__)
    parser.add_argument("command", choices=["docs", "asyncapi", "publish"])
    args = parser.parse_args()
    if args.command == "docs":
        sys.stdout.write(docs())
        return 0
    if args.command == "asyncapi":
        sys.stdout.write(asyncapi.render())
        return 0
    return publish()


if __name__ == "__main__":
    sys.exit(main())
