"""`python -m gateway [--host H] [--port P]`: the development gateway under uvicorn (make run)."""

from __future__ import annotations

import argparse
import logging
import sys

import uvicorn

from gateway.proxy import ACCESS_LOG, Gateway
from gateway.server import server_options
from gateway.table import load


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m gateway", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    # One JSON object per line on stdout, like nginx's access log.
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s"))
    ACCESS_LOG.addHandler(handler)
    ACCESS_LOG.setLevel(logging.INFO)
    ACCESS_LOG.propagate = False
    # proxy_headers off: the gateway finds the client itself, from its table's trusted proxies only (as nginx's
    # realip module does), never from an X-Forwarded-For any client can write.
    # uvloop: under a flood of refused requests the proxy's time went mostly to asyncio's Python transports
    # (accept, read, write, close), which uvloop does in C; h11 stays, with its JSON 400s and its head bound.
    uvicorn.run(Gateway(load()), host=args.host, port=args.port, access_log=False, proxy_headers=False,
                server_header=False, lifespan="on", loop="uvloop", **server_options())


if __name__ == "__main__":
    main()
