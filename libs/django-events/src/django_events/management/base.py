"""What the worker commands share: signals for a graceful stop, and the health/metrics endpoint."""

from __future__ import annotations

import logging
import signal
import threading
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from ..health import serve_worker_health


class WorkerCommand(BaseCommand):
    """A long-running process that stops cleanly on SIGTERM/SIGINT (Kubernetes, Ctrl-C)."""

    # A worker whose loop has not turned for this long is reported unhealthy, so the orchestrator restarts it.
    stall_after = 300.0

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--metrics-port", type=int, default=None, help="serve /metrics and /healthz on this port")

    def handle(self, *args: Any, **options: Any) -> None:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        worker = self.make_worker(stop, **options)
        if options["metrics_port"]:
            serve_worker_health(options["metrics_port"], lambda: time.monotonic() - worker.heartbeat < self.stall_after)
        worker.run()

    def make_worker(self, stop: threading.Event, **options: Any) -> Any:
        raise NotImplementedError
