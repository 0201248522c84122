"""Failpoints for crash tests: ``DJANGO_EVENTS_FAILPOINTS=relay.after_send`` kills the process right there.

The fault tests of this library kill a relay between Kafka's acknowledgement and marking the rows sent, and a
consumer between its database commit and its offset commit; timing alone cannot hit those windows reliably.
"""

from __future__ import annotations

import os
import signal


def failpoint(name: str) -> None:
    if name in os.environ.get("DJANGO_EVENTS_FAILPOINTS", "").split(","):
        os.kill(os.getpid(), signal.SIGKILL)
