from __future__ import annotations

import threading
from typing import Any

from ...relay import Relay
from ..base import WorkerCommand


class Command(WorkerCommand):
    help = "Send committed outbox events to Kafka (several relays may run against one PostgreSQL database)."

    def make_worker(self, stop: threading.Event, **options: Any) -> Relay:
        return Relay(stop=stop)
