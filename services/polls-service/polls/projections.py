from django.db.models import F

import django_events
from django_events import Event

from polls.models import PollTally


class PollTallyProjection(django_events.Projection):
    model = PollTally

    def on_vote_cast(self, event: Event) -> None:
        poll_id = event.data["poll_id"]
        if not self.update(poll_id, total_votes=F("total_votes") + 1):
            self.upsert(poll_id, total_votes=1)
