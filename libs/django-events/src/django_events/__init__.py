"""Reliable events for Django services: outbox, relay, idempotent consumers, rebuildable projections."""

from .context import correlation, current_correlation_id
from .contracts import Catalogue, ContractViolation, Payload
from .envelope import Event, InvalidEvent, topic_for
from .freshness import wait_for_read_model
from .outbox import apublish, event_for, publish, publish_events
from .projection import Projection
from .registry import UnsupportedVersion, handler, handles
from .subscriptions import routes, subscribe
from .upcasting import register_upcasters, unregister_upcasters, upcasts

__version__ = "0.3.2"

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
    "event_for",
    "current_correlation_id",
    "handler",
    "handles",
    "publish",
    "publish_events",
    "register_upcasters",
    "routes",
    "subscribe",
    "topic_for",
    "unregister_upcasters",
    "upcasts",
    "wait_for_read_model",
]
