"""Reliable events for Django services: outbox, relay, idempotent consumers, rebuildable projections."""

from .context import correlation, current_correlation_id
from .contracts import Catalogue, ContractViolation, Payload
from .envelope import Event, InvalidEvent, topic_for
from .freshness import wait_for_read_model
from .outbox import apublish, publish
from .projection import Projection
from .registry import UnsupportedVersion, handler, handles
from .subscriptions import routes, subscribe

__version__ = "0.3.0"

__all__ = [
    "apublish",
    "Catalogue",
    "ContractViolation",
    "Event",
    "InvalidEvent",
    "Payload",
    "Projection",
    "UnsupportedVersion",
    "correlation",
    "current_correlation_id",
    "handler",
    "handles",
    "publish",
    "routes",
    "subscribe",
    "topic_for",
    "wait_for_read_model",
]
