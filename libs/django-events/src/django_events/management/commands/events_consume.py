from __future__ import annotations

import threading
from typing import Any

from ...conf import events_settings
from ...consumer import Consumer
from ..base import WorkerCommand


class Command(WorkerCommand):
    help = "Consume this service's topics and apply each event once to its handlers and projections."

    def make_worker(self, stop: threading.Event, **options: Any) -> Consumer:
        self.stall_after = int(events_settings.CONSUMER.get("max.poll.interval.ms", 300000)) / 1000
        return Consumer(stop=stop)
