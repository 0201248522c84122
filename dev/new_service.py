"""`make new-service NAME=<name>`: a new service of the platform, in the house shape, ready to run.

Renders templates/service/ with copier into the repository (services/<name>-service/, its chart, the contract of
its own event), adds it to services.toml on the next free port, records its contract as published and
regenerates what is rendered from the list and the contracts: docs/events.md, docs/asyncapi.json and the gateway
chart's nginx.conf.
`make run` and the gateway then include it with no other edit.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import copier

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the platform's tooling (fleet/)

from fleet.services import NAME, parse  # noqa: E402

LIST = ROOT / "services.toml"
# What a generated service reads: the poll.* events of its example projection and, through read_models.users, the
# user.* events; it is added to their contracts' consumers (x-consumers), so docs/events.md names it.
READS = ["poll.created", "poll.updated", "poll.closed", "poll.deleted", "user.registered", "user.deleted"]
# How the gateway chart's copy of the production nginx config is rendered (deploy/tests checks it is current).
GATEWAY_CHART_CONFIG = [
    "gateway.nginx", "render", "--main", "--upstreams-include", "cluster.conf", "--web-root", "/srv/gateway/web",
]


def entry(*, name: str, port: int) -> str:
    return f'\n[[service]]\nname = "{name}"\nprefix = "/api/{name}/"\nport = {port}\ndatabase = "{name}_service"\n'


def add_consumer(service: str, *, event_types: list[str]) -> None:
    """Names ``service`` among the consumers of every version of ``event_types`` in the contracts' catalogue."""
    for event_type in event_types:
        for path in sorted((ROOT / "contracts" / "events" / event_type).glob("v*.json")):
            schema = json.loads(path.read_text())
            schema["x-consumers"] = sorted({*schema.get("x-consumers", []), service})
            path.write_text(json.dumps(schema, indent=2) + "\n")


def regenerate(path: Path, module_and_args: list[str], *, cwd: Path) -> None:
    """Writes ``python -m <module> <args>``'s output, run from ``cwd`` so that checkout's own package answers."""
    command = [sys.executable, "-m", *module_and_args]
    path.write_text(subprocess.run(command, cwd=cwd, check=True, capture_output=True, text=True).stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", help="lowercase letters and digits: comments -> services/comments-service")
    parser.add_argument("--entity", help="what it keeps, one of them (default: the name less a trailing s)")
    args = parser.parse_args()
    if not NAME.fullmatch(args.name):
        parser.error(f"{args.name!r}: use 2-31 lowercase letters and digits, starting with a letter")
    listed = parse(LIST.read_text(), root=ROOT)
    if any(service.name == args.name for service in listed) or (ROOT / "services" / f"{args.name}-service").exists():
        parser.error(f"{args.name}-service exists already")
    port = max(service.port for service in listed) + 1
    # The list with the new entry, read as everything else will read it, before anything is written.
    (new,) = parse(LIST.read_text() + entry(name=args.name, port=port), root=ROOT)[len(listed):]
    data: dict[str, object] = {"name": args.name, "port": port}
    if args.entity:
        data["entity"] = args.entity
    os.chdir(ROOT)  # relative paths, so the answers file records where the template is in any checkout
    copier.run_copy("templates/service", ".", data=data, defaults=True, overwrite=False, quiet=True)
    with LIST.open("a") as services:
        services.write(entry(name=args.name, port=port))
    add_consumer(new.service_name, event_types=READS)
    subprocess.run([sys.executable, "-m", "event_contracts", "publish"], cwd=ROOT / "contracts", check=True)
    regenerate(ROOT / "docs" / "events.md", ["event_contracts", "docs"], cwd=ROOT / "contracts")
    regenerate(ROOT / "docs" / "asyncapi.json", ["event_contracts", "asyncapi"], cwd=ROOT / "contracts")
    regenerate(ROOT / "deploy/helm/gateway/files/nginx.conf", GATEWAY_CHART_CONFIG, cwd=ROOT / "gateway")
    print(
        f"services/{new.service_name} is ready on port {port} under {new.prefix}: "
        f"its tests: cd services/{new.service_name} && ../../.venv/bin/python -m pytest; then `make run`."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
