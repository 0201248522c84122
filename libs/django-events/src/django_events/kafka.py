"""The Kafka transport: confluent-kafka clients with the library's safe defaults under the user's settings."""

from __future__ import annotations

import functools
import logging
import threading
import time
import uuid
from collections.abc import Sequence
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka import Message as KafkaMessage
from confluent_kafka.admin import AdminClient, NewTopic

from .conf import events_settings
from .metrics import consumer_lag
from .wire import CLOSE_TIMEOUT, Message

logger = logging.getLogger("django_events")


def client_config(**overrides: Any) -> dict[str, Any]:
    """Where the brokers are and how to connect to them; every kind of client starts from it."""
    return {"bootstrap.servers": events_settings.BOOTSTRAP_SERVERS, **events_settings.CLIENT, **overrides}


def producer_config(**overrides: Any) -> dict[str, Any]:
    return {
        **client_config(),
        # Idempotence is off by default in librdkafka; it keeps per-partition order across internal retries.
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "compression.type": "lz4",
        "message.timeout.ms": int(events_settings.RELAY_SEND_TIMEOUT * 1000),
        **events_settings.PRODUCER,
        **overrides,
    }


def consumer_config(**overrides: Any) -> dict[str, Any]:
    return {
        **client_config(),
        "group.id": events_settings.GROUP_ID,
        "auto.offset.reset": "earliest",
        # Offsets are stored by hand after the database commit; auto-commit only sends what was stored.
        "enable.auto.commit": True,
        "enable.auto.offset.store": False,
        "allow.auto.create.topics": True,
        # A topic that did not exist at subscription (its creation timed out while the broker was starting, or
        # its producer has not published yet) is found within seconds rather than librdkafka's 5 minutes.
        "topic.metadata.refresh.interval.ms": 10000,
        **events_settings.CONSUMER,
        **overrides,
    }


def make_producer(**overrides: Any) -> Producer:
    return Producer(producer_config(**overrides))


def make_consumer(**overrides: Any) -> Consumer:
    return Consumer(consumer_config(**overrides))


def ensure_topics(topics: list[str], timeout: float = 10.0) -> None:
    """Create missing topics with the configured partitions; an existing topic is left as it is."""
    if not topics:
        return
    admin = AdminClient(client_config())
    new = [
        NewTopic(t, num_partitions=events_settings.TOPIC_PARTITIONS, replication_factor=events_settings.TOPIC_REPLICATION_FACTOR)
        for t in topics
    ]
    broker_away = False
    for topic, future in admin.create_topics(new, request_timeout=timeout).items():
        try:
            future.result(timeout)
        except KafkaException as error:
            if error.args[0].name() != "TOPIC_ALREADY_EXISTS":
                logger.warning("could not create topic %s: %s", topic, error)
        except TimeoutError:
            broker_away = True
            # The broker is away: a consumer starting now must wait for it, not die. The topic is created later
            # by its first message (auto-creation) or found by the consumer's metadata refresh.
            logger.warning("could not create topic %s: no broker answered within %.0fs", topic, timeout)
    if not broker_away:
        _wait_until_listed(admin, topics, timeout)


def _wait_until_listed(admin: AdminClient, topics: list[str], timeout: float) -> None:
    # A topic is created before every broker's metadata lists it: a consumer subscribing in between is assigned
    # none of its partitions until its next metadata refresh, and events sent meanwhile wait that long.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            listed = admin.list_topics(timeout=max(deadline - time.monotonic(), 0.1)).topics
        except KafkaException:
            return
        if all(t in listed and listed[t].error is None and listed[t].partitions for t in topics):
            return
        time.sleep(0.1)


class KafkaTransport:
    name = "kafka"

    def publisher(self, stop: threading.Event | None = None) -> KafkaPublisher:
        return KafkaPublisher(make_producer(), stop)

    def subscribe(self, topics: Sequence[str], group: str) -> KafkaSubscription:
        ensure_topics(list(topics))
        return KafkaSubscription(topics, group)

    def replay(self, topics: Sequence[str], group: str) -> KafkaReplay:
        return KafkaReplay(topics, group)

    def ensure_topics(self, topics: Sequence[str]) -> None:
        ensure_topics(list(topics))

    def ready(self, timeout: float) -> tuple[bool, str]:
        admin = AdminClient(client_config(**{"socket.timeout.ms": int(timeout * 1000)}))
        metadata = admin.list_topics(timeout=timeout)
        return True, f"{len(metadata.brokers)} broker(s)"


class KafkaPublisher:
    """The idempotent producer: a partition's order holds across librdkafka's own retries."""

    def __init__(self, producer: Producer, stop: threading.Event | None = None) -> None:
        self.producer = producer
        self.stop = stop or threading.Event()

    def send(self, messages: Sequence[Message], timeout: float) -> list[str | None]:
        outcome: list[str | None] = ["not acknowledged before the send timeout"] * len(messages)

        def delivered(index: int, error: KafkaError | None, _: KafkaMessage) -> None:
            outcome[index] = None if error is None else str(error)

        for index, message in enumerate(messages):
            headers: list[tuple[str, str | bytes | None]] = list(message.headers)
            while True:
                try:
                    self.producer.produce(
                        message.topic,
                        key=message.key,
                        value=message.value,
                        headers=headers,
                        on_delivery=functools.partial(delivered, index),
                    )
                    break
                except BufferError:
                    self.producer.poll(0.05)
        self._flush(timeout)
        return outcome

    def close(self, timeout: float) -> None:
        self._flush(timeout)

    def _flush(self, timeout: float) -> int:
        """``producer.flush`` in short slices, so a stop request ends the wait while the broker is away (a
        signal handler only runs between them); returns how many messages are still unacknowledged."""
        deadline = time.monotonic() + timeout
        while remaining := self.producer.flush(0.2):
            if self.stop.is_set() or time.monotonic() >= deadline:
                return remaining
        return 0


class KafkaSubscription:
    """A member of the consumer group. Offsets are stored only once the database committed (``committed``) and
    are committed synchronously on revoke and on close."""

    def __init__(self, topics: Sequence[str], group: str) -> None:
        self.group = group
        self._assigned = False
        self.consumer = make_consumer(**{"group.id": group})
        self.consumer.subscribe(list(topics), on_assign=self._on_assign, on_revoke=self._on_revoke)

    def poll(self, max_messages: int, timeout: float) -> list[Message]:
        # consume(n, timeout) waits the whole timeout unless n messages arrive: wait for the first message only,
        # then take what is already fetched, so a lone event is applied at once and a backlog in full batches.
        raw = self.consumer.consume(1, timeout)
        if raw and max_messages > 1:
            raw += self.consumer.consume(max_messages - 1, 0)
        return [_received(m) for m in raw if not _is_error(m)]

    def record(self, messages: Sequence[Message]) -> None:
        pass  # Kafka keeps the group's offsets

    def committed(self, messages: Sequence[Message]) -> None:
        self.consumer.store_offsets(offsets=_next_offsets(messages))

    def joined(self) -> bool:
        return self._assigned

    def observe_lag(self, service: str) -> None:
        for tp in self.consumer.assignment():
            position = self.consumer.position([tp])[0].offset
            if position < 0:
                continue
            _, high = self.consumer.get_watermark_offsets(tp, cached=True)
            consumer_lag.labels(service, tp.topic, str(tp.partition)).set(max(high - position, 0))

    def close(self) -> None:
        # With the broker away, librdkafka waits for it far longer than an orchestrator waits for a stopping process.
        closing = threading.Thread(target=_commit_and_close, args=(self.consumer,), name="close", daemon=True)
        closing.start()
        closing.join(CLOSE_TIMEOUT)
        if closing.is_alive():
            logger.warning("the broker did not take the final commit within %.0fs; leaving without it", CLOSE_TIMEOUT)

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._assigned = True
        logger.info("joined group %s with %d partition(s)", self.group, len(partitions))

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._assigned = False  # revoked, or lost to a session timeout (librdkafka calls this for both)
        # Handling runs in the poll thread, so everything stored so far is applied: commit it before letting go.
        try:
            consumer.commit(asynchronous=False)
        except Exception as error:
            logger.debug("commit on revoke: %s", error)


class KafkaReplay:
    """Every partition of the topics from the beginning, with a one-off group that commits nothing; it ends at
    the log end (the high watermark) as it is when asked."""

    def __init__(self, topics: Sequence[str], group: str) -> None:
        self.consumer = make_consumer(**{"group.id": f"{group}.rebuild.{uuid.uuid4()}", "enable.auto.commit": False})
        metadata = self.consumer.list_topics(timeout=10)
        self.partitions = [
            TopicPartition(topic, partition, OFFSET_BEGINNING)
            for topic in topics
            if topic in metadata.topics
            for partition in metadata.topics[topic].partitions
        ]
        self.consumer.assign(self.partitions)

    def ends(self) -> dict[tuple[str, int], int]:
        return {(tp.topic, tp.partition): self.consumer.get_watermark_offsets(tp, timeout=10)[1] for tp in self.partitions}

    def positions(self) -> dict[tuple[str, int], int]:
        self.partitions = self.consumer.position(self.partitions)
        return {(tp.topic, tp.partition): tp.offset for tp in self.partitions}

    def poll(self, max_messages: int, timeout: float) -> list[Message]:
        return [_received(m) for m in self.consumer.consume(max_messages, timeout) if m.error() is None]

    def close(self) -> None:
        self.consumer.close()


def _commit_and_close(consumer: Consumer) -> None:
    try:
        consumer.commit(asynchronous=False)
    except Exception as error:  # nothing stored yet is not a failure
        logger.debug("final commit: %s", error)
    consumer.close()


def _received(message: KafkaMessage) -> Message:
    return Message(
        topic=message.topic() or "",
        key=message.key(),
        value=message.value() or b"",
        headers=_headers(message),
        partition=message.partition() or 0,
        offset=message.offset() or 0,
    )


def _headers(message: KafkaMessage) -> list[tuple[str, bytes]]:
    headers = message.headers() or []
    pairs = headers.items() if isinstance(headers, dict) else headers
    return [(name, value if isinstance(value, bytes) else (value or "").encode()) for name, value in pairs]


def _is_error(message: KafkaMessage) -> bool:
    error = message.error()
    if error is None:
        return False
    if error.fatal():
        raise RuntimeError(f"fatal Kafka error: {error}")
    if error.code() not in (KafkaError._PARTITION_EOF, KafkaError.UNKNOWN_TOPIC_OR_PART):
        logger.warning("consumer: %s", error)
    return True


def _next_offsets(messages: Sequence[Message]) -> list[TopicPartition]:
    last: dict[tuple[str, int], int] = {}
    for message in messages:
        last[(message.topic, message.partition)] = message.offset
    return [TopicPartition(topic, partition, offset + 1) for (topic, partition), offset in last.items()]
