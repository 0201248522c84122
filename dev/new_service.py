"""`make new-service NAME=<name>`: a new service of the platform, in the house shape, ready to run.

Renders templates/service/ with copier into the repository (services/<name>-service/, its chart, the contract of
its own event), adds it to services.toml on the next free port, records its contract as published and
regenerates docs/events.md. `make run` and the gateway then include it with no other edit.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import copier

ROOT = Path(__file__).resolve().parent.parent
LIST = ROOT / "services.toml"
NAME = re.compile(r"^[a-z][a-z0-9]{1,30}$")


def entry(*, name: str, port: int) -> str:
    return f'\n[[service]]\nname = "{name}"\nprefix = "/api/{name}/"\nport = {port}\ndatabase = "{name}_service"\n'


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", help="lowercase letters and digits: comments -> services/comments-service")
    parser.add_argument("--entity", help="what it keeps, one of them (default: the name less a trailing s)")
    args = parser.parse_args()
    if not NAME.match(args.name):
        parser.error(f"{args.name!r}: use 2-31 lowercase letters and digits, starting with a letter")
    listed = tomllib.loads(LIST.read_text())["service"]
    if any(service["name"] == args.name for service in listed) or (ROOT / "services" / f"{args.name}-service").exists():
        parser.error(f"{args.name}-service exists already")
    port = max(service["port"] for service in listed) + 1
    data: dict[str, object] = {"name": args.name, "port": port}
    if args.entity:
        data["entity"] = args.entity
    os.chdir(ROOT)  # relative paths, so the answers file records where the template is in any checkout
    copier.run_copy("templates/service", ".", data=data, defaults=True, overwrite=False, quiet=True)
    with LIST.open("a") as services:
        services.write(entry(name=args.name, port=port))
    contracts = ROOT / "contracts"
    subprocess.run([sys.executable, "-m", "event_contracts", "publish"], cwd=contracts, check=True)
    docs = subprocess.run([sys.executable, "-m", "event_contracts", "docs"], cwd=contracts, check=True, capture_output=True, text=True)
    (ROOT / "docs" / "events.md").write_text(docs.stdout)
    print(
        f"services/{args.name}-service is ready on port {port} under /api/{args.name}/: "
        f"its tests: cd services/{args.name}-service && ../../.venv/bin/python -m pytest; then `make run`."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
