import uuid
from datetime import datetime

from django_events import Event
from django_events.testing import deliver, make_event

from choices.models import Choice
from choices.services import choice_create


def poll_created(
    *, poll_id: uuid.UUID, owner_id: str, status: str = "open", closes_at: datetime | None = None
) -> Event:
    data = {
        "poll_id": str(poll_id),
        "question": "Tea or coffee?",
        "owner_id": owner_id,
        "status": status,
        "closes_at": closes_at.isoformat() if closes_at else None,
        "created_at": "2026-11-24T00:00:00+00:00",
    }
    return make_event("poll.created", data)


def a_known_poll(*, owner_id: str, status: str = "open", closes_at: datetime | None = None) -> uuid.UUID:
    """A poll as choice-service learns of it: through polls-service's poll.created."""
    poll_id = uuid.uuid4()
    deliver(poll_created(poll_id=poll_id, owner_id=owner_id, status=status, closes_at=closes_at))
    return poll_id


def a_choice(*, poll_id: uuid.UUID, owner_id: str, text: str = "Tea") -> Choice:
    return choice_create(poll_id=poll_id, actor_id=owner_id, text=text)
