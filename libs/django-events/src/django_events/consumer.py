"""The consumer: the broker -> this service's handlers and projections, each event taking effect once."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from django.db import DatabaseError, InterfaceError, OperationalError, connections, transaction
from django.utils import timezone

from . import dead_letters
from .conf import events_settings
from .dispatch import apply_events
from .envelope import Event, InvalidEvent
from .faults import failpoint
from .metrics import consumer_dead_lettered, consumer_processed, consumer_retried
from .models import InboxEvent
from .provenance import refusal
from .registry import Subscriber, UnsupportedVersion, registry
from .tracing import received_context
from .transport import CLOSE_TIMEOUT, Message, PartitionLost, Publisher, Subscription, get_transport

logger = logging.getLogger("django_events.consumer")

# Recorded in the inbox for an event sent to the dead-letter topic, so a redelivery does not send it again.
DEAD_LETTER_SUBSCRIBER = "django_events.dead_letter"


@dataclass
class Received:
    message: Message
    event: Event | None
    problem: str | None = None
    # Refused on arrival (not an envelope, or not from its type's owner): dead-lettered, never applied.
    refused: bool = False


class Consumer:
    """Consumes this service's topics in batches, as one member of the service's consumer group.

    A batch is applied in one database transaction with its inbox rows; its position is stored only with or after
    that commit, so a crash redelivers and the inbox skips what was applied. A failing batch is applied again one
    event at a time, in order, to isolate the culprit, which is retried with backoff in place (keeping its key's
    order) and then dead-lettered while consumption goes on.
    """

    def __init__(
        self,
        subscribers: Sequence[Subscriber] | None = None,
        *,
        stop: threading.Event | None = None,
        subscription: Subscription | None = None,
        publisher: Publisher | None = None,
    ) -> None:
        self.subscribers = list(registry.subscribers.values() if subscribers is None else subscribers)
        self.topics = registry.topics(self.subscribers)
        self.using = events_settings.DATABASE
        self.service = events_settings.SERVICE or ""
        # Counters exist at 0 from the start, so a healthy consumer shows 0 retries rather than no data.
        consumer_retried.labels(self.service)
        for event_type in registry.event_types(self.subscribers):
            consumer_processed.labels(self.service, event_type)
            consumer_dead_lettered.labels(self.service, event_type)
        self.stop = stop or threading.Event()
        self.batch_size = events_settings.CONSUMER_BATCH_SIZE
        self._subscription = subscription
        self._publisher = publisher
        self.heartbeat = time.monotonic()
        self._next_housekeeping = 0.0
        self._next_inbox_cleanup = 0.0

    @property
    def subscription(self) -> Subscription:
        if self._subscription is None:
            self._subscription = get_transport().subscribe(self.topics, events_settings.GROUP_ID)
        return self._subscription

    @property
    def publisher(self) -> Publisher:
        if self._publisher is None:
            self._publisher = get_transport().publisher()
        return self._publisher

    def ready(self) -> bool:
        """Whether events reach this consumer: it holds its share of its topics (none to hold: nothing to wait for)."""
        return not self.topics or (self._subscription is not None and self._subscription.joined())

    def run(self) -> None:
        if not self.topics:
            logger.warning("no handlers or projections registered: nothing to consume")
            self.stop.wait()
            return
        logger.info("consuming %s as group %s on %s", ", ".join(self.topics), events_settings.GROUP_ID, events_settings.TRANSPORT)
        try:
            while not self.stop.is_set():
                self.poll_once()
        finally:
            self.close()

    def poll_once(self, timeout: float = 0.5) -> int:
        self.heartbeat = time.monotonic()
        messages = self.subscription.poll(self.batch_size, timeout)
        if messages:
            try:
                self.handle(messages)
            except PartitionLost as error:
                logger.warning("%s; its batch was rolled back", error)
                return 0
            self.subscription.observe_lag(self.service)
        self._housekeeping()
        return len(messages)

    def close(self) -> None:
        """Stops consuming and leaves the group, giving the broker at most CLOSE_TIMEOUT seconds: with the broker
        away, an orchestrator waits far less for a stopping process than a client waits for the broker. Leaving
        without the last commit is safe: what is redelivered, the inbox skips."""
        if self._subscription is not None:
            self._subscription.close()
            self._subscription = None
        if self._publisher is not None:
            self._publisher.close(CLOSE_TIMEOUT)
            self._publisher = None

    def handle(self, messages: Sequence[Message]) -> None:
        received = [_receive(m) for m in messages]
        for item in received:
            if item.refused:  # not an event envelope, or forged: nothing may apply it
                self._publish_dead_letter(item)
        acceptable = [r for r in received if r.event is not None and not r.refused]
        while True:
            try:
                with transaction.atomic(using=self.using):
                    self._apply_batch(received, acceptable)
                    self.subscription.record(messages)
                    failpoint("consumer.before_commit")
            except PartitionLost:
                raise
            except Exception as error:
                if self._waited_for_database():
                    continue  # the outage failed the batch, not its events
                logger.info("batch of %d failed (%s); isolating the failing event", len(acceptable), error)
                # One at a time, in order: a message's position is stored once it and those before it are done.
                for item in received:
                    if item.refused:
                        self._done_with(item)
                    elif not self._held_if_parked(item) and not self._apply_with_retries(item):
                        self._dead_letter(item)
                return
            break
        failpoint("consumer.after_commit")
        self.subscription.committed(messages)

    def _apply_batch(self, received: Sequence[Received], acceptable: Sequence[Received]) -> None:
        for item in received:
            if item.refused:
                self._record_dead_letter(item, parks=False)
        parked = self._parked(acceptable)
        for item in acceptable:
            if (item.message.topic, _key(item)) in parked:
                self._hold(item)
        events = [r.event for r in acceptable if r.event and (r.message.topic, r.event.key) not in parked]
        apply_events(events, self.subscribers, using=self.using, traced=True)

    def _apply_with_retries(self, item: Received) -> bool:
        assert item.event is not None
        attempt = 0
        while True:
            try:
                with transaction.atomic(using=self.using):
                    apply_events([item.event], self.subscribers, using=self.using, traced=True)
                    self.subscription.record([item.message])
                self.subscription.committed([item.message])
                return True
            except PartitionLost:
                raise
            except (UnsupportedVersion, InvalidEvent) as error:  # retrying cannot help
                item.problem = str(error)
                return False
            except Exception as error:
                item.problem = f"{type(error).__name__}: {error}"
                if self._waited_for_database():
                    continue  # an attempt the event did not get
                if attempt == events_settings.RETRIES:
                    break
                consumer_retried.labels(self.service).inc()
                time.sleep(events_settings.RETRY_BACKOFF * 2**attempt)
                attempt += 1
        logger.error("event %s (%s) failed %d times: %s", item.event.id, item.event.type, attempt + 1, item.problem)
        return False

    def _waited_for_database(self) -> bool:
        """After a failure: waits while the database cannot be reached, and says whether it could not.

        A database outage is no fault of the events that were being applied: counting it against their retries
        would dead-letter healthy events, and they would never take effect. They are applied again once the
        database answers. A stop requested meanwhile raises, so that nothing is stored and all is redelivered.
        """
        if self._database_answers():
            return False
        logger.warning("database unreachable; holding the batch until it answers again")
        delay = 0.2
        while not self._database_answers():
            if self.stop.wait(delay):
                raise RuntimeError("stopped while the database was unreachable; the batch will be redelivered")
            delay = min(delay * 2, 5.0)
        logger.info("database reachable again; applying the batch")
        return True

    def _database_answers(self) -> bool:
        connection = connections[self.using]
        connection.close_if_unusable_or_obsolete()
        try:
            connection.ensure_connection()
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
            return True
        except (OperationalError, InterfaceError):
            connection.close()
            return False

    def _dead_letter(self, item: Received) -> None:
        """Dead-letters an event once: the inbox remembers it, in the transaction that stores its position."""
        assert item.event is not None
        already = InboxEvent.objects.using(self.using).filter(subscriber=DEAD_LETTER_SUBSCRIBER, event_id=item.event.id)
        if already.exists():
            self._done_with(item)
            return
        self._publish_dead_letter(item)
        with transaction.atomic(using=self.using):
            InboxEvent.objects.using(self.using).create(subscriber=DEAD_LETTER_SUBSCRIBER, event_id=item.event.id)
            self._record_dead_letter(item, parks=events_settings.PARK_KEYS)
            self.subscription.record([item.message])
        self.subscription.committed([item.message])

    def _record_dead_letter(self, item: Received, *, parks: bool) -> None:
        dead_letters.record(item.message, item.event, item.problem or "unknown", parks=parks, using=self.using)

    def _parked(self, items: Sequence[Received]) -> set[tuple[str, str]]:
        if not events_settings.PARK_KEYS:
            return set()
        return dead_letters.parked({(item.message.topic, _key(item)) for item in items}, using=self.using)

    def _hold(self, item: Received) -> None:
        assert item.event is not None
        dead_letters.hold(item.message, item.event, using=self.using)
        logger.info("held %s (%s) behind a dead letter of key %s", item.event.id, item.event.type, item.event.key)

    def _held_if_parked(self, item: Received) -> bool:
        """Holds the event, storing its position, when a dead letter parks its key (one may have been recorded
        earlier in this same batch)."""
        if not events_settings.PARK_KEYS:
            return False
        with transaction.atomic(using=self.using):
            if not self._parked([item]):
                return False
            self._hold(item)
            self.subscription.record([item.message])
        self.subscription.committed([item.message])
        return True

    def _publish_dead_letter(self, item: Received) -> None:
        message = item.message
        headers = list(message.headers) + [
            ("dead_letter_reason", (item.problem or "unknown").encode()[:4000]),
            ("original_topic", message.topic.encode()),
            ("original_partition", str(message.partition).encode()),
            ("original_offset", str(message.offset).encode()),
            ("dead_lettered_by", self.service.encode()),
        ]
        topic = message.topic + events_settings.DEAD_LETTER_SUFFIX
        [error] = self.publisher.send([Message(topic, key=message.key, value=message.value, headers=headers)], 30)
        if error is not None:
            raise RuntimeError(f"dead-letter topic {topic} did not acknowledge: {error}")
        consumer_dead_lettered.labels(self.service, item.event.type if item.event else "invalid").inc()
        logger.error("dead-lettered %s[%d]@%d to %s: %s", message.topic, message.partition, message.offset, topic, item.problem)

    def _done_with(self, item: Received) -> None:
        with transaction.atomic(using=self.using):
            if item.refused:
                self._record_dead_letter(item, parks=False)
            self.subscription.record([item.message])
        self.subscription.committed([item.message])

    def _housekeeping(self) -> None:
        now = time.monotonic()
        if now < self._next_housekeeping:
            return
        self._next_housekeeping = now + 15.0
        try:
            dead_letters.update_metrics(using=self.using)
        except DatabaseError as error:
            logger.warning("dead-letter metrics not updated: %s", error)
            connections[self.using].close_if_unusable_or_obsolete()
        if now < self._next_inbox_cleanup:
            return
        self._next_inbox_cleanup = now + 60.0
        cutoff = timezone.now() - timedelta(seconds=events_settings.INBOX_RETENTION)
        try:
            InboxEvent.objects.using(self.using).filter(processed_at__lt=cutoff).delete()
        except DatabaseError as error:  # the cleanup can wait for the next round, during an outage
            logger.warning("inbox cleanup skipped: %s", error)
            connections[self.using].close_if_unusable_or_obsolete()


def _key(item: Received) -> str:
    return item.event.key if item.event is not None else ""


def _receive(message: Message) -> Received:
    try:
        event = Event.from_json(message.value)
    except InvalidEvent as error:
        return Received(message, None, str(error), refused=True)
    problem = refusal(event, message.topic)
    if (context := received_context(message.headers)) and context.get("traceparent") != event.traceparent:
        event = dataclasses.replace(event, traceparent=context.get("traceparent"), tracestate=context.get("tracestate"))
    return Received(message, event, problem, refused=problem is not None)

