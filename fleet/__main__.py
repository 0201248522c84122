"""`python -m fleet <what>`: the list of services, one per line, for the Makefile and the shell scripts.

    names       auth, polls...                 services    auth-service, polls-service...
    databases   auth_service...                 deploy      `<name>-service <database>` per service
    pythons     `<name>-service <python>` per service (3.11 unless services.toml names another)
    own-pythons the same, of the services on a Python of their own only
    json        every field and derived name, as JSON
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable

from fleet.services import Service, ServicesError, load

LINES: dict[str, Callable[[Service], str]] = {
    "names": lambda s: s.name,
    "services": lambda s: s.service_name,
    "databases": lambda s: s.database,
    "deploy": lambda s: f"{s.service_name} {s.database}",
    "pythons": lambda s: f"{s.service_name} {s.python}",
}
# The lines of the services that run on a Python of their own only.
OWN_PYTHON = {"own-pythons": LINES["pythons"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fleet", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=[*LINES, *OWN_PYTHON, "json"])
    args = parser.parse_args(argv)
    try:
        services = load()
    except ServicesError as error:
        print(error, file=sys.stderr)
        return 1
    if args.what == "json":
        print(json.dumps([{"name": s.name, "service": s.service_name, "prefix": s.prefix, "paths": list(s.paths),
                           "port": s.port, "database": s.database, "python": s.python, "url_env": s.url_env,
                           "folder": str(s.folder.relative_to(s.root)), "chart": str(s.chart.relative_to(s.root))}
                          for s in services], indent=2))
    elif args.what in OWN_PYTHON:
        for service in services:
            if service.own_python:
                print(OWN_PYTHON[args.what](service))
    else:
        print("\n".join(LINES[args.what](service) for service in services))
    return 0


if __name__ == "__main__":
    sys.exit(main())
