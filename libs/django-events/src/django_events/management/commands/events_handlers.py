from __future__ import annotations

import inspect
import os
from typing import Any

from django.core.management.base import BaseCommand

from ... import upcasting
from ...projection import Projection, handling_method
from ...registry import registry
from ...subscriptions import routes


class Command(BaseCommand):
    help = (
        "List every event type and version this service consumes, the projection or handler that handles it "
        "(and from which sources, when it names them), and the upcasters that convert older versions for them."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        found = routes()
        if not found:
            self.stdout.write("no subscribers: register them with django_events.subscribe() in AppConfig.ready()")
        for route in found:
            where = _where(_handling(registry.subscribers[route.subscriber], route.event_type))
            only = f", from {', '.join(route.sources)} only" if route.sources else ""
            self.stdout.write(
                f"{route.event_type} v{route.version} -> {route.subscriber} "
                f"({route.kind}, reads {route.reads}{only}){where}"
            )
        for event_type, version, upcaster in upcasting.registered():
            self.stdout.write(
                f"{event_type} v{version} -> v{version + 1} upcast by "
                f"{upcaster.__module__}.{upcaster.__qualname__}{_where(upcaster)}"
            )


def _handling(subscriber: Any, event_type: str) -> Any:
    """The function that handles ``event_type``."""
    if isinstance(subscriber, Projection):
        return handling_method(type(subscriber), event_type)
    return getattr(subscriber, "function", subscriber)


def _where(target: Any) -> str:
    """The file and line where ``target`` is defined."""
    try:
        path = os.path.relpath(inspect.getsourcefile(target) or "")
        return f"  {path}:{inspect.getsourcelines(target)[1]}"
    except (OSError, TypeError, ValueError):
        return ""
