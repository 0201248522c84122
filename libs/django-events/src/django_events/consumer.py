"""The consumer: Kafka -> this service's handlers and projections, each event taking effect once."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from confluent_kafka import Consumer as KafkaConsumer
from confluent_kafka import KafkaError, Message, Producer, TopicPartition
from django.db import connections, transaction
from django.utils import timezone

from .conf import events_settings
from .dispatch import apply_events
from .envelope import Event, InvalidEvent
from .faults import failpoint
from .kafka import ensure_topics, make_consumer, make_producer
from .metrics import consumer_dead_lettered, consumer_lag, consumer_retried
from .models import InboxEvent
from .registry import Subscriber, UnsupportedVersion, registry

logger = logging.getLogger("django_events.consumer")

# Seconds a stopping consumer gives the broker to take its last commit and its leaving the group.
CLOSE_TIMEOUT = 10.0

# Recorded in the inbox for an event sent to the dead-letter topic, so a redelivery does not send it again.
DEAD_LETTER_SUBSCRIBER = "django_events.dead_letter"


@dataclass
class Received:
    message: Message
    event: Event | None
    problem: str | None = None


class Consumer:
    """Consumes this service's topics in batches.

    A batch is applied in one database transaction with its inbox rows; the offsets are stored only after that
    commit (and committed synchronously on revoke and on shutdown), so a crash redelivers and the inbox skips what
    was applied. A failing batch is replayed one event at a time to isolate the culprit, which is retried with
    backoff in place (keeping its key's order) and then dead-lettered while consumption goes on.
    """

    def __init__(
        self,
        subscribers: Sequence[Subscriber] | None = None,
        *,
        stop: threading.Event | None = None,
        consumer: KafkaConsumer | None = None,
        producer: Producer | None = None,
    ) -> None:
        self.subscribers = list(registry.subscribers.values() if subscribers is None else subscribers)
        self.topics = registry.topics(self.subscribers)
        self.using = events_settings.DATABASE
        self.service = events_settings.SERVICE or ""
        self.stop = stop or threading.Event()
        self.batch_size = events_settings.CONSUMER_BATCH_SIZE
        self._consumer = consumer
        self._producer = producer
        self.heartbeat = time.monotonic()
        self._next_housekeeping = 0.0

    @property
    def consumer(self) -> KafkaConsumer:
        if self._consumer is None:
            ensure_topics(self.topics)
            self._consumer = make_consumer()
            self._consumer.subscribe(self.topics, on_revoke=self._on_revoke)
        return self._consumer

    @property
    def producer(self) -> Producer:
        if self._producer is None:
            self._producer = make_producer()
        return self._producer

    def run(self) -> None:
        if not self.topics:
            logger.warning("no handlers or projections registered: nothing to consume")
            self.stop.wait()
            return
        logger.info("consuming %s as group %s", ", ".join(self.topics), events_settings.GROUP_ID)
        try:
            while not self.stop.is_set():
                self.poll_once()
        finally:
            self.close()

    def poll_once(self, timeout: float = 0.5) -> int:
        self.heartbeat = time.monotonic()
        # consume(n, timeout) waits the whole timeout unless n messages arrive: wait for the first message only,
        # then take what is already fetched, so a lone event is applied at once and a backlog in full batches.
        messages = self.consumer.consume(1, timeout)
        if messages and self.batch_size > 1:
            messages += self.consumer.consume(self.batch_size - 1, 0)
        messages = [m for m in messages if not self._is_error(m)]
        if messages:
            self.handle(messages)
            failpoint("consumer.after_commit")
            self.consumer.store_offsets(offsets=_next_offsets(messages))
            self._observe_lag()
        self._housekeeping()
        return len(messages)

    def close(self) -> None:
        """Commits what was stored and leaves the group, for at most CLOSE_TIMEOUT seconds: with the broker away,
        librdkafka waits for it far longer than an orchestrator waits for a stopping process. Leaving without
        committing is safe: what is redelivered, the inbox skips."""
        if self._consumer is not None:
            closing = threading.Thread(target=_commit_and_close, args=(self._consumer,), name="close", daemon=True)
            closing.start()
            closing.join(CLOSE_TIMEOUT)
            if closing.is_alive():
                logger.warning("the broker did not take the final commit within %.0fs; leaving without it", CLOSE_TIMEOUT)
            self._consumer = None
        if self._producer is not None:
            self._producer.flush(CLOSE_TIMEOUT)

    def handle(self, messages: Sequence[Message]) -> None:
        received = [_receive(m) for m in messages]
        events = [r.event for r in received if r.event is not None]
        try:
            with transaction.atomic(using=self.using):
                apply_events(events, self.subscribers, using=self.using)
                failpoint("consumer.before_commit")
            poison = [r for r in received if r.event is None]
        except Exception as error:
            logger.info("batch of %d failed (%s); isolating the failing event", len(events), error)
            poison = [r for r in received if r.event is None or not self._apply_with_retries(r)]
        for item in poison:
            self._dead_letter(item)

    def _apply_with_retries(self, item: Received) -> bool:
        assert item.event is not None
        for attempt in range(events_settings.RETRIES + 1):
            try:
                with transaction.atomic(using=self.using):
                    apply_events([item.event], self.subscribers, using=self.using)
                return True
            except (UnsupportedVersion, InvalidEvent) as error:  # retrying cannot help
                item.problem = str(error)
                return False
            except Exception as error:
                item.problem = f"{type(error).__name__}: {error}"
                connections[self.using].close_if_unusable_or_obsolete()
                if attempt < events_settings.RETRIES:
                    consumer_retried.labels(self.service).inc()
                    time.sleep(events_settings.RETRY_BACKOFF * 2**attempt)
        logger.error("event %s (%s) failed %d times: %s", item.event.id, item.event.type, attempt + 1, item.problem)
        return False

    def _dead_letter(self, item: Received) -> None:
        message, event = item.message, item.event
        if event is not None:
            already = InboxEvent.objects.using(self.using).filter(subscriber=DEAD_LETTER_SUBSCRIBER, event_id=event.id)
            if already.exists():
                return
        headers: list[tuple[str, str | bytes | None]] = [
            *(message.headers() or []),
            ("dead_letter_reason", (item.problem or "unknown").encode()[:4000]),
            ("original_topic", str(message.topic()).encode()),
            ("original_partition", str(message.partition()).encode()),
            ("original_offset", str(message.offset()).encode()),
            ("dead_lettered_by", self.service.encode()),
        ]
        topic = f"{message.topic()}{events_settings.DEAD_LETTER_SUFFIX}"
        self.producer.produce(topic, key=message.key(), value=message.value(), headers=headers)
        if self.producer.flush(30):
            raise RuntimeError(f"dead-letter topic {topic} did not acknowledge")
        if event is not None:
            InboxEvent.objects.using(self.using).create(subscriber=DEAD_LETTER_SUBSCRIBER, event_id=event.id)
        consumer_dead_lettered.labels(self.service, event.type if event else "invalid").inc()
        logger.error("dead-lettered %s[%d]@%d to %s: %s", message.topic(), message.partition(), message.offset(), topic, item.problem)

    def _is_error(self, message: Message) -> bool:
        error = message.error()
        if error is None:
            return False
        if error.fatal():
            raise RuntimeError(f"fatal Kafka error: {error}")
        if error.code() not in (KafkaError._PARTITION_EOF, KafkaError.UNKNOWN_TOPIC_OR_PART):
            logger.warning("consumer: %s", error)
        return True

    def _on_revoke(self, consumer: KafkaConsumer, partitions: list[TopicPartition]) -> None:
        # Handling runs in the poll thread, so everything stored so far is applied: commit it before letting go.
        try:
            consumer.commit(asynchronous=False)
        except Exception as error:
            logger.debug("commit on revoke: %s", error)

    def _observe_lag(self) -> None:
        for tp in self.consumer.assignment():
            position = self.consumer.position([tp])[0].offset
            if position < 0:
                continue
            _, high = self.consumer.get_watermark_offsets(tp, cached=True)
            consumer_lag.labels(self.service, tp.topic, str(tp.partition)).set(max(high - position, 0))

    def _housekeeping(self) -> None:
        now = time.monotonic()
        if now < self._next_housekeeping:
            return
        self._next_housekeeping = now + 60.0
        cutoff = timezone.now() - timedelta(seconds=events_settings.INBOX_RETENTION)
        InboxEvent.objects.using(self.using).filter(processed_at__lt=cutoff).delete()


def _commit_and_close(consumer: KafkaConsumer) -> None:
    try:
        consumer.commit(asynchronous=False)
    except Exception as error:  # nothing stored yet is not a failure
        logger.debug("final commit: %s", error)
    consumer.close()


def _receive(message: Message) -> Received:
    try:
        return Received(message, Event.from_json(message.value() or b""))
    except InvalidEvent as error:
        return Received(message, None, str(error))


def _next_offsets(messages: Sequence[Message]) -> list[TopicPartition]:
    last: dict[tuple[str, int], int] = {}
    for message in messages:
        topic, partition, offset = message.topic(), message.partition(), message.offset()
        assert topic is not None and partition is not None and offset is not None  # a consumed message has all
        last[(topic, partition)] = offset
    return [TopicPartition(topic, partition, offset + 1) for (topic, partition), offset in last.items()]


def consumer_is_stalled(heartbeat: float, max_poll_interval_ms: Any = None) -> bool:
    limit = int(max_poll_interval_ms or events_settings.CONSUMER.get("max.poll.interval.ms", 300000)) / 1000
    return time.monotonic() - heartbeat > limit
