"""Rows of the read models as the projections would have written them, without going through events."""

import uuid
from datetime import datetime

from votes.models import ChoiceView, PollView


def poll_view_create(*, status: str = "open", closes_at: datetime | None = None, owner_id: str | None = None) -> PollView:
    return PollView.objects.create(
        id=uuid.uuid4(), owner_id=owner_id or str(uuid.uuid4()), status=status, closes_at=closes_at
    )


def choice_view_create(*, poll: PollView, text: str = "Yes", position: int = 0) -> ChoiceView:
    return ChoiceView.objects.create(id=uuid.uuid4(), poll_id=poll.id, text=text, position=position)
