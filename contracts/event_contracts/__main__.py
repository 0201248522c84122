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

Every event travels in the django-events envelope (`libs/django-events/README.md`):
`{id, type, version, occurred_at, source, key, data, correlation_id}`. Topic = first segment of the type.
Ids are UUID strings, times ISO 8601 UTC. The contract of each type and version is the JSON Schema of its `data`
in `contracts/events/<type>/v<version>.json`; producers' tests validate what they publish against it, and
consumers read typed payloads checked against it. A consumer that meets a version it does not know dead-letters
the event with the reason `unsupported version N of <type>`; it never guesses.

| type | version | key | producer | data | consumers |
|---|---|---|---|---|---|
"""

FOOTER = """
Rules for changing an event: adding an optional field keeps the version; anything else (removing a field,
changing its type, making it required) is a new version, a new file beside the old one, and the producer
publishes the new version only once every consumer accepts it. `contracts/published.json` keeps each version as
first published and the contract tests fail on a change that breaks it; `python -m event_contracts publish`
records additions.
"""


def _field(name: str, schema: dict[str, Any], required: set[str]) -> str:
    kind = schema.get("type", "any")
    kinds = " or ".join(kind) if isinstance(kind, list) else kind
    if "enum" in schema:
        kinds = "one of " + "/".join(map(str, schema["enum"]))
    fmt = f" {schema['format']}" if "format" in schema else ""
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
