"""The platform's own tooling: its list of services (services.toml) as typed records, the processes that run a
service, and the one supervisor that starts, watches and stops them (`make run`, the fault suites, the benches).

`python -m fleet names|services|databases|...` prints the list for the Makefile and the shell scripts.
"""

from fleet.services import GATEWAY_PORT, LIST, ROOT, Service, ServicesError, load, parse

__all__ = ["GATEWAY_PORT", "LIST", "ROOT", "Service", "ServicesError", "load", "parse"]
