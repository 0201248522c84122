from __future__ import annotations

import inspect
import os
from typing import Any

from django.core.management.base import BaseCommand

from ...projection import Projection, handling_method
from ...registry import registry
from ...subscriptions import routes


class Command(BaseCommand):
    help = "List every event type and version this service consumes, and the projection or handler that handles it."

    def handle(self, *args: Any, **options: Any) -> None:
        found = routes()
        if not found:
            self.stdout.write("no subscribers: register them with django_events.subscribe() in AppConfig.ready()")
            return
        for route in found:
            where = _where(registry.subscribers[route.subscriber], route.event_type)
            self.stdout.write(
                f"{route.event_type} v{route.version} -> {route.subscriber} ({route.kind}, reads {route.reads}){where}"
            )


def _where(subscriber: Any, event_type: str) -> str:
    """The file and line of the function that handles ``event_type``."""
    if isinstance(subscriber, Projection):
        target = handling_method(type(subscriber), event_type)
    else:
        target = getattr(subscriber, "function", subscriber)
    try:
        path = os.path.relpath(inspect.getsourcefile(target) or "")
        return f"  {path}:{inspect.getsourcelines(target)[1]}"
    except (OSError, TypeError, ValueError):
        return ""
