from __future__ import annotations

import logging
import threading
from typing import Any

from django.core.management.base import CommandParser

from ...relay import Relay
from ..base import WorkerCommand

logger = logging.getLogger("django_events.relay")


class Command(WorkerCommand):
    help = "Send committed outbox events to Kafka (several relays may run against one PostgreSQL database)."

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument(
            "--resend-sent",
            action="store_true",
            help="first mark every retained outbox row unsent, for a broker that lost its log (only with no other "
            "relay running)",
        )

    def make_worker(self, stop: threading.Event, **options: Any) -> Relay:
        relay = Relay(stop=stop)
        if options["resend_sent"]:
            logger.info("sending again %d retained outbox rows: the broker lost its log", relay.resend_sent())
        return relay
