"""`python -m fleet <what>`: the list of services, one per line, for the Makefile and the shell scripts.

    names       auth, polls...                 services    auth-service, polls-service...
    databases   auth_service...                 deploy      `<name>-service <database>` per service
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
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fleet", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=[*LINES, "json"])
    args = parser.parse_args(argv)
    try:
        services = load()
    except ServicesError as error:
        print(error, file=sys.stderr)
        return 1
    if args.what == "json":
        print(json.dumps([{"name": s.name, "service": s.service_name, "prefix": s.prefix, "paths": list(s.paths),
                           "port": s.port, "database": s.database, "url_env": s.url_env,
                           "folder": str(s.folder.relative_to(s.root)), "chart": str(s.chart.relative_to(s.root))}
                          for s in services], indent=2))
    else:
        print("\n".join(LINES[args.what](service) for service in services))
    return 0


if __name__ == "__main__":
    sys.exit(main())
