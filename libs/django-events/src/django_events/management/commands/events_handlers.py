from __future__ import annotations

import inspect
from typing import Any

from django.core.management.base import BaseCommand

from ...registry import registry, routes


class Command(BaseCommand):
    help = "List every event type and version this service consumes, and the projection or handler that handles it."

    def handle(self, *args: Any, **options: Any) -> None:
        found = routes()
        if not found:
            self.stdout.write("no subscribers: register them with django_events.subscribe() in AppConfig.ready()")
            return
        for route in found:
            where = _where(registry.subscribers[route.subscriber])
            self.stdout.write(
                f"{route.event_type} v{route.version} -> {route.subscriber} ({route.kind}, reads {route.reads}){where}"
            )


def _where(subscriber: Any) -> str:
    target = getattr(subscriber, "function", type(subscriber))
    try:
        return f"  {inspect.getsourcefile(target)}:{inspect.getsourcelines(target)[1]}"
    except (OSError, TypeError):
        return ""
