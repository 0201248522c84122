"""What the worker commands share: signals for a graceful stop, and the health/metrics endpoint."""

from __future__ import annotations

import logging
import signal
import threading
import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from ..health import keep_ready_file, serve_worker_health


class WorkerCommand(BaseCommand):
    """A long-running process that stops cleanly on SIGTERM/SIGINT (Kubernetes, Ctrl-C)."""

    # A worker whose loop has not turned for this long is reported unhealthy, so the orchestrator restarts it.
    stall_after = 300.0

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--metrics-port", type=int, default=None, help="serve /metrics, /healthz and /readyz on this port")
        parser.add_argument(
            "--ready-file",
            type=Path,
            default=None,
            help="a file present while the worker is ready (a consumer: it holds its share of its topics), removed "
            "when it is not and when it stops",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        worker = self.make_worker(stop, **options)
        if options["metrics_port"]:
            is_healthy = lambda: time.monotonic() - worker.heartbeat < self.stall_after  # noqa: E731
            serve_worker_health(options["metrics_port"], is_healthy, worker.ready)
        ready_file: Path | None = options["ready_file"]
        if ready_file is not None:
            keep_ready_file(ready_file, worker.ready, stop)
        try:
            worker.run()
        finally:
            if ready_file is not None:
                ready_file.unlink(missing_ok=True)

    def make_worker(self, stop: threading.Event, **options: Any) -> Any:
        raise NotImplementedError
