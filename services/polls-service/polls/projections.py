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

    def on_vote_voided(self, event: Event) -> None:
        # A vote recorded after its poll closed (see vote-service's votes_void_after_close); it follows its
        # vote.cast on the poll's partition, so the row is there.
        self.update(event.data["poll_id"], total_votes=F("total_votes") - 1)
