"""Where the monolith's writes announce themselves: through django-events' outbox, in the platform's contract
shapes (event_contracts.payloads), once MONOLITH_EVENTS is on; not at all before, as the monolith always was."""

import django_events
from django.conf import settings
from django_events import Payload


def publishing() -> bool:
    return bool(settings.MONOLITH_EVENTS != "off")


def publish(payload: Payload, *, key: str) -> None:
    """In the caller's transaction, last (django-events holds the key's lock until the commit)."""
    if publishing():
        django_events.publish(payload, key=key)
