from __future__ import annotations

from django.db import models
from django.utils import timezone


class OutboxEvent(models.Model):
    """An event committed with the change that caused it, waiting for the relay."""

    seq = models.BigAutoField(primary_key=True)
    event_id = models.UUIDField(unique=True)
    event_type = models.CharField(max_length=200)
    event_version = models.PositiveSmallIntegerField(default=1)
    topic = models.CharField(max_length=249)
    key = models.CharField(max_length=255)
    # Relays partition the outbox by shard (a hash of the key) so that one key is only ever sent by one relay.
    shard = models.SmallIntegerField()
    payload = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    # The publishing span's W3C trace context, its headers (traceparent, tracestate), which the relay sends with
    # the message; null when published without tracing, or by a version before it.
    trace_context = models.JSONField(null=True, blank=True)

    class Meta:
        db_table = "django_events_outbox"
        indexes = [
            models.Index(
                fields=["shard", "seq"],
                condition=models.Q(sent_at__isnull=True),
                name="django_events_outbox_unsent",
            ),
            # The relay's claim reads unsent rows in seq order; without this, PostgreSQL walks the primary key
            # past every sent row still retained (a week's worth by default) on each claim.
            models.Index(fields=["seq"], condition=models.Q(sent_at__isnull=True), name="django_events_unsent_seq"),
            models.Index(fields=["sent_at"], name="django_events_outbox_sent"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id}"


class InboxEvent(models.Model):
    """Proof that a subscriber applied an event: written in the same transaction as the subscriber's writes."""

    subscriber = models.CharField(max_length=200)
    event_id = models.UUIDField()
    processed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "django_events_inbox"
        constraints = [
            models.UniqueConstraint(fields=["subscriber", "event_id"], name="django_events_inbox_once"),
        ]
        indexes = [models.Index(fields=["processed_at"], name="django_events_inbox_age")]

    def __str__(self) -> str:
        return f"{self.subscriber} {self.event_id}"


class StreamOffset(models.Model):
    """The RabbitMQ transport's consumer group offsets: where a group resumes in one stream (a partition).

    Written in the transaction that applied the messages before it, so the offset and the effects of the events
    it covers commit together (Kafka keeps its groups' offsets itself and does not use this table).
    """

    group = models.CharField(max_length=200)
    stream = models.CharField(max_length=255)
    next_offset = models.BigIntegerField()

    class Meta:
        db_table = "django_events_stream_offset"
        constraints = [models.UniqueConstraint(fields=["group", "stream"], name="django_events_stream_offset_once")]

    def __str__(self) -> str:
        return f"{self.group} {self.stream}@{self.next_offset}"


class DeadLetter(models.Model):
    """An event this service's consumer gave up on, kept until someone redrives or skips it.

    The ``<topic>.dlq`` topic holds the broker's copy for tools that read topics; this row is what the service
    acts on (``events_dead_letters``), and what parks its key while ``PARK_KEYS`` is on.
    """

    OUTSTANDING, REDRIVEN, SKIPPED = "outstanding", "redriven", "skipped"

    # A message that was not an event envelope has no id, type or key of its own.
    event_id = models.UUIDField(null=True, blank=True)
    event_type = models.CharField(max_length=200, blank=True, default="")
    topic = models.CharField(max_length=249)
    partition = models.IntegerField()
    offset = models.BigIntegerField()
    key = models.CharField(max_length=255, blank=True, default="")
    payload = models.TextField()
    headers = models.JSONField(default=list)
    reason = models.TextField()
    # Whether it holds its key's later events (PARK_KEYS): an event that failed does; a message refused on
    # arrival does not, or a forged message would stop a key of its choosing.
    parks = models.BooleanField(default=False)
    dead_lettered_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(
        max_length=20, default=OUTSTANDING,
        choices=[(OUTSTANDING, "outstanding"), (REDRIVEN, "redriven"), (SKIPPED, "skipped")],
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    # Why it was skipped, or what its redrive found (applied, or applied already).
    resolution = models.TextField(blank=True, default="")

    class Meta:
        db_table = "django_events_dead_letter"
        constraints = [
            # A redelivered message (a crash between the dead-lettering and the stored position) is recorded once.
            models.UniqueConstraint(fields=["topic", "partition", "offset"], name="django_events_dead_letter_once"),
        ]
        indexes = [
            models.Index(fields=["topic", "key"], condition=models.Q(status="outstanding", parks=True),
                         name="django_events_dl_outstanding"),
        ]

    def __str__(self) -> str:
        return f"dead letter {self.pk}: {self.event_type or 'not an event'} {self.event_id or ''}".rstrip()


class HeldEvent(models.Model):
    """An event whose key has a dead letter outstanding (``PARK_KEYS``): applied once the key is released."""

    event_id = models.UUIDField(unique=True)
    topic = models.CharField(max_length=249)
    key = models.CharField(max_length=255)
    partition = models.IntegerField()
    offset = models.BigIntegerField()
    payload = models.TextField()
    held_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "django_events_held_event"
        indexes = [models.Index(fields=["topic", "key", "id"], name="django_events_held_key")]

    def __str__(self) -> str:
        return f"held {self.event_id} of {self.topic}/{self.key}"
