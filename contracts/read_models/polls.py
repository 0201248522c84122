"""polls-service's polls as a consuming service keeps them, fed by poll.* events.

A service subclasses the model (naming its table) and the projection (naming its model)::

    class PollView(read_models.polls.PollView):
        class Meta(read_models.polls.PollView.Meta):
            db_table = "choices_poll_view"

    class PollViewProjection(read_models.polls.PollViewProjection):
        model = PollView

The projection writes the contract's fields that the service's model declares, so a service that shows the
question keeps ``PollViewWithQuestion`` and one that only checks who owns a poll and whether it is open does not
pay for it. What else a closed poll means to a service is its ``poll_closed`` hook.
"""

import uuid
from datetime import datetime
from typing import Any, ClassVar

import django_events
from django.db import models

from event_contracts.payloads import PollClosed, PollCreated, PollDeleted, PollUpdated
from event_contracts.polls import poll_is_open

STATUS_CLOSED = "closed"


class PollView(models.Model):
    """Who owns a poll and whether it is open. ``Meta.managed`` is False: django-events owns the table (it creates
    it after ``migrate`` and can rebuild it), so a field changed here reaches a table only through a rebuild."""

    STATUS_CLOSED = STATUS_CLOSED

    id = models.UUIDField(primary_key=True)
    owner_id = models.CharField(max_length=64)
    status = models.CharField(max_length=16)
    closes_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True
        managed = False

    def is_open_at(self, moment: datetime) -> bool:
        return poll_is_open(status=self.status, closes_at=self.closes_at, at=moment)


class PollViewWithQuestion(PollView):
    """A poll and its question, as long as polls-service accepts (the contract's ``maxLength``)."""

    question = models.CharField(max_length=300)

    class Meta(PollView.Meta):
        abstract = True


class PollViewProjection(django_events.Projection):
    """poll.created, poll.updated, poll.closed and poll.deleted into the subclass's ``model``; the service
    registers its subclass with ``django_events.subscribe()`` in its AppConfig.ready()."""

    model: ClassVar[type[PollView]]

    @django_events.handles("poll.created")
    def on_poll_created(self, poll: PollCreated) -> None:
        self.upsert(
            poll.poll_id,
            **self._kept(question=poll.question, owner_id=poll.owner_id, status=poll.status, closes_at=poll.closes_at),
        )

    @django_events.handles("poll.updated")
    def on_poll_updated(self, poll: PollUpdated) -> None:
        # poll.updated carries no owner_id, so it can only change a poll this projection already holds.
        self.update(poll.poll_id, **self._kept(question=poll.question, status=poll.status, closes_at=poll.closes_at))

    @django_events.handles("poll.closed")
    def on_poll_closed(self, poll: PollClosed) -> None:
        known = self.objects.filter(pk=poll.poll_id).only("closes_at").first()
        if known is None:
            return
        # The poll closed at the earlier of its deadline and the moment its owner closed it.
        closes_at = min(poll.closed_at, known.closes_at) if known.closes_at else poll.closed_at
        self.update(poll.poll_id, status=STATUS_CLOSED, closes_at=closes_at)
        self.poll_closed(poll.poll_id, closes_at)

    @django_events.handles("poll.deleted")
    def on_poll_deleted(self, poll: PollDeleted) -> None:
        self.delete(poll.poll_id)

    def poll_closed(self, poll_id: uuid.UUID, closed_at: datetime) -> None:
        """What else a poll this service knows closing means to it (vote-service voids the votes cast after
        ``closed_at``); nothing by default. Runs in the event's transaction, during a rebuild too (``self.rebuilding``
        then says so)."""

    def _kept(self, **fields: Any) -> dict[str, Any]:
        """The fields the service's model keeps, of those the event carries."""
        kept = {field.attname for field in self.model._meta.concrete_fields}
        return {name: value for name, value in fields.items() if name in kept}
