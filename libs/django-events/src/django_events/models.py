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
