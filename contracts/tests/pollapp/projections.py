import uuid
from datetime import datetime

import read_models.polls
from tests.pollapp.models import OwnerOnlyPollView, PollView

closed: list[tuple[uuid.UUID, datetime]] = []


class PollViewProjection(read_models.polls.PollViewProjection):
    model = PollView

    def poll_closed(self, poll_id: uuid.UUID, closed_at: datetime) -> None:
        closed.append((poll_id, closed_at))


class OwnerOnlyPollViewProjection(read_models.polls.PollViewProjection):
    model = OwnerOnlyPollView
