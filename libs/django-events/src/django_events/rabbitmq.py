"""The RabbitMQ transport (3.10+): streams as partitions, with offsets and group membership in the database.

A topic is ``TOPIC_PARTITIONS`` streams, ``<topic>.<n>``; a message goes to the stream of a hash of its key, so one
key's messages share one append-only log, as in a Kafka partition. Streams keep their messages after consumers
read them, which is what replays for ``events_rebuild`` need (classic queues delete what was acknowledged).

RabbitMQ 3.10 has neither super streams nor single active consumer on streams (both 3.11), so the consumer group
lives in the service's own PostgreSQL database, beside its inbox: each member holds a shared advisory lock (the
membership) and an exclusive one per stream it consumes, on a connection of its own, and takes or gives up streams
until each member has its fair share. A member that dies loses its locks with its connection, and the others take
its streams within a second. A group's position in a stream is a row of ``django_events_stream_offset``, written
in the transaction that applies the messages before it, and guarded by the value it replaces: a member that lost
a stream without noticing cannot move it, its batch rolls back. On another database than PostgreSQL, one consumer
process per service takes every stream.

The client is pika, RabbitMQ's own synchronous AMQP 0-9-1 library: the relay and the consumer are blocking loops
around the Django ORM, and AMQP reaches streams in 3.10 without the stream plugin.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
import zlib
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import DatabaseError, connections

from ._extras import missing_extra
from .conf import events_settings
from .metrics import consumer_lag
from .models import StreamOffset
from .rows import insert_rows
from .wire import Message, PartitionLost

try:
    import pika
    from pika.adapters.blocking_connection import BlockingChannel
    from pika.exceptions import AMQPError
except ModuleNotFoundError as error:
    raise missing_extra(error, "rabbitmq", 'DJANGO_EVENTS["TRANSPORT"] = "rabbitmq"') from error

logger = logging.getLogger("django_events.rabbitmq")
# pika logs every connection step at INFO; the workers log at INFO.
logging.getLogger("pika").setLevel(logging.WARNING)

STREAM = {"x-queue-type": "stream"}
# Namespaces of the consumer group's advisory locks: pg_advisory_lock(namespace, hash).
MEMBERS_NAMESPACE = 0x0E7F
STREAMS_NAMESPACE = 0x0E80
REBALANCE_EVERY = 1.0
# How often a consumer asks the broker where its streams end (for the lag gauge), and where they begin.
STREAM_ENDS_EVERY = 5.0
STREAM_STARTS_EVERY = 60.0
# Headers the broker adds to a stream's messages, and the one that carries the message key.
OFFSET_HEADER = "x-stream-offset"
KEY_HEADER = "key"
# A message's content type travels as AMQP's own property, where AMQP clients look for it (the CloudEvents AMQP
# binding's rule for structured mode), not as a header.
CONTENT_TYPE_HEADER = "content-type"


def partition_of(key: bytes | None) -> int:
    partitions: int = events_settings.TOPIC_PARTITIONS
    return zlib.crc32(key or b"") % partitions


def stream_name(topic: str, partition: int) -> str:
    return f"{topic}.{partition}"


def partitions_of(topics: Sequence[str]) -> list[tuple[str, int]]:
    return [(topic, partition) for topic in topics for partition in range(events_settings.TOPIC_PARTITIONS)]


def connect(timeout: float = 10.0) -> pika.BlockingConnection:
    parameters = pika.URLParameters(events_settings.RABBITMQ_URL)
    parameters.socket_timeout = timeout
    parameters.blocked_connection_timeout = max(timeout, events_settings.RELAY_SEND_TIMEOUT)
    parameters.connection_attempts = 1
    return pika.BlockingConnection(parameters)


class RabbitMQTransport:
    name = "rabbitmq"

    def publisher(self, stop: threading.Event | None = None) -> RabbitMQPublisher:
        return RabbitMQPublisher(stop)

    def subscribe(self, topics: Sequence[str], group: str) -> RabbitMQSubscription:
        return RabbitMQSubscription(topics, group)

    def replay(self, topics: Sequence[str], group: str) -> RabbitMQReplay:
        return RabbitMQReplay(topics, group)

    def ensure_topics(self, topics: Sequence[str]) -> None:
        connection = connect()
        try:
            channel = connection.channel()
            for key in partitions_of(topics):
                channel.queue_declare(stream_name(*key), durable=True, arguments=STREAM)
        finally:
            connection.close()

    def ready(self, timeout: float) -> tuple[bool, str]:
        connection = connect(timeout)
        connection.close()
        return True, "RabbitMQ connected"


class RabbitMQPublisher:
    """Publishes to streams with publisher confirms, all of a batch at once on one channel (so in order), then
    waits for the broker's confirms of the whole batch.

    pika's BlockingChannel waits for each confirm inside ``basic_publish``: one round trip per message. Its
    asynchronous core (``pika.channel.Channel``, the channel's ``_impl``) publishes without waiting and reports
    confirms to a callback, which is what a batch needs.
    """

    def __init__(self, stop: threading.Event | None = None) -> None:
        self.stop = stop or threading.Event()
        self._connection: pika.BlockingConnection | None = None
        self._channel: BlockingChannel | None = None
        self._core: Any = None
        self._declared: set[str] = set()
        self._published = 0
        self._pending: dict[int, int] = {}
        self._outcome: list[str | None] = []

    def send(self, messages: Sequence[Message], timeout: float) -> list[str | None]:
        timed_out = "not confirmed before the send timeout"
        outcome: list[str | None] = [timed_out] * len(messages)
        self._outcome = outcome
        self._pending = {}
        try:
            channel = self._open()
            streams = [stream_name(m.topic, partition_of(m.key)) for m in messages]
            for stream in set(streams) - self._declared:
                channel.queue_declare(stream, durable=True, arguments=STREAM)
                # Published through an exchange of the stream's own name, bound to it: publishing needs write
                # permission on that name, which a RabbitMQ user is given for its own topics' streams only. The
                # default exchange would let anyone who may publish at all reach every queue.
                channel.exchange_declare(stream, "direct", durable=True)
                channel.queue_bind(stream, stream, routing_key=stream)
                self._declared.add(stream)
            for index, (message, stream) in enumerate(zip(messages, streams, strict=True)):
                headers: dict[str, Any] = {name: value.decode() for name, value in message.headers}
                content_type = headers.pop(CONTENT_TYPE_HEADER, None)
                if message.key is not None:
                    headers[KEY_HEADER] = message.key.decode()
                properties = pika.BasicProperties(
                    content_type=content_type, headers=headers, delivery_mode=pika.DeliveryMode.Persistent
                )
                self._core.basic_publish(stream, stream, message.value, properties)
                self._published += 1
                self._pending[self._published] = index
            deadline = time.monotonic() + timeout
            while self._pending and (remaining := deadline - time.monotonic()) > 0 and not self.stop.is_set():
                assert self._connection is not None
                self._connection.process_data_events(time_limit=min(remaining, 0.2))
        except AMQPError as error:
            # Every message without a confirm, also those not published yet (the connection failed first).
            reason = f"{type(error).__name__}: {error}"
            outcome[:] = [reason if result == timed_out else result for result in outcome]
            self._reset()
        return outcome

    def close(self, timeout: float) -> None:
        self._reset()

    def _open(self) -> BlockingChannel:
        if self._connection is not None and self._channel is not None:
            try:
                self._connection.process_data_events(0)  # finds a connection the broker closed while idle
                return self._channel
            except AMQPError as error:
                logger.info("RabbitMQ connection lost while idle (%s); reconnecting", error)
                self._reset()
        self._connection = connect()
        self._channel = self._connection.channel()
        self._core = self._channel._impl
        self._core.confirm_delivery(self._on_confirm)
        self._published = 0
        return self._channel

    def _on_confirm(self, frame: Any) -> None:
        method = frame.method
        confirmed = [tag for tag in self._pending if tag <= method.delivery_tag] if method.multiple else [method.delivery_tag]
        for tag in confirmed:
            index = self._pending.pop(tag, None)
            if index is not None:
                self._outcome[index] = None if isinstance(method, pika.spec.Basic.Ack) else "rejected by RabbitMQ (nack)"
        if not self._pending and self._connection is not None:
            # Confirms reach the channel's asynchronous core, which the blocking connection does not count as an
            # event: process_data_events would sleep out its time limit after the last one. A no-op callback is an
            # event, so send() returns as soon as the batch is confirmed.
            self._connection.add_callback_threadsafe(lambda: None)

    def _reset(self) -> None:
        connection, self._connection, self._channel, self._core = self._connection, None, None, None
        self._declared.clear()
        if connection is not None and connection.is_open:
            try:
                connection.close()
            except AMQPError:
                pass


@dataclass
class _Owned:
    """A stream this member consumes: the offset stored for the group (None: no row yet), the offset of the next
    message it expects, and its AMQP consumer."""

    stored: int | None
    position: int


class _Receiver:
    """One AMQP channel's stream consumers and the messages they delivered, not yet taken."""

    def __init__(self, prefetch: int) -> None:
        self.connection = connect()
        self.channel = self.connection.channel()
        self.channel.basic_qos(prefetch_count=prefetch)  # streams require a prefetch limit
        self.buffer: deque[Message] = deque()
        self.by_tag: dict[str, tuple[str, int]] = {}
        self.declared: set[str] = set()
        self._probe: BlockingChannel | None = None

    def consume(self, key: tuple[str, int], offset: int | str) -> None:
        stream = stream_name(*key)
        if stream not in self.declared:
            self.channel.queue_declare(stream, durable=True, arguments=STREAM)
            self.declared.add(stream)
        tag = str(self.channel.basic_consume(stream, self._on_message, arguments={OFFSET_HEADER: offset}))
        self.by_tag[tag] = key

    def wait(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self.buffer and (remaining := deadline - time.monotonic()) > 0:
            self.connection.process_data_events(time_limit=min(remaining, 0.2))

    def stream_end(self, stream: str, first_offset: int | None) -> tuple[int, int]:
        """(offset one past the stream's last message, offset of its first), as far as AMQP 0-9-1 tells.

        RabbitMQ 3.10 answers no "where does this stream end" over AMQP (the stream protocol's offset queries need
        the stream plugin, the management API's stream figures the management plugin). What AMQP has is
        queue.declare's message count, which for a stream is how many messages it retains (offset of the last
        one + 1 - offset of the first one; retention may have removed the oldest), and the offset of the first
        retained message, which is the offset header of the first message a consumer attached at "first"
        receives. So end = first + count. The broker refreshes that count every few seconds: the end read here
        is at most that stale, never beyond the real end, so a lag computed from it may read low for a few
        seconds but never reports a backlog that is not there. ``first_offset``, if known, saves the lookup.
        """
        if self._probe is None or not self._probe.is_open:
            self._probe = self.connection.channel()
            self._probe.basic_qos(prefetch_count=1)
        count = int(self._probe.queue_declare(stream, passive=True).method.message_count)
        if first_offset is None and count:
            first_offset = self._first_offset(self._probe, stream)
        first = first_offset or 0
        return first + count, first

    def _first_offset(self, channel: BlockingChannel, stream: str, timeout: float = 5.0) -> int | None:
        # A consumer that takes one message (prefetch 1) and leaves it unacknowledged: pika nacks what was delivered
        # but not dispatched when a consumer is cancelled, and RabbitMQ closes the connection on a nack to a stream.
        found: list[int] = []
        tag = channel.basic_consume(
            stream, lambda _, __, properties, ___: found.append(int(properties.headers[OFFSET_HEADER])),
            arguments={OFFSET_HEADER: "first"},
        )
        deadline = time.monotonic() + timeout
        while not found and (remaining := deadline - time.monotonic()) > 0:
            self.connection.process_data_events(time_limit=min(remaining, 0.2))
        channel.basic_cancel(tag)
        return found[0] if found else None

    def take(self, max_messages: int) -> list[Message]:
        return [self.buffer.popleft() for _ in range(min(max_messages, len(self.buffer)))]

    def ack(self, messages: Sequence[Message]) -> None:
        # Acknowledgements on a stream only grant the consumer credit; the position is what the database holds.
        if messages:
            self.channel.basic_ack(max(m.handle for m in messages), multiple=True)

    def close(self) -> None:
        if self.connection.is_open:
            try:
                self.connection.close()
            except AMQPError:
                pass

    def _on_message(self, channel: Any, method: Any, properties: Any, body: bytes) -> None:
        key = self.by_tag.get(method.consumer_tag)
        if key is None:
            return
        headers = dict(properties.headers or {})
        offset = int(headers.pop(OFFSET_HEADER))
        message_key = headers.pop(KEY_HEADER, None)
        self.buffer.append(
            Message(
                topic=key[0],
                key=_bytes(message_key) if message_key is not None else None,
                value=body,
                headers=[(name, _bytes(value)) for name, value in headers.items()]
                + ([(CONTENT_TYPE_HEADER, properties.content_type.encode())] if properties.content_type else []),
                partition=key[1],
                offset=offset,
                handle=method.delivery_tag,
            )
        )


class RabbitMQSubscription:
    """A member of the service's consumer group (see the module's docstring)."""

    def __init__(self, topics: Sequence[str], group: str) -> None:
        self.group = group
        self.using = events_settings.DATABASE
        self.partitions = partitions_of(topics)
        self.prefetch = max(events_settings.CONSUMER_BATCH_SIZE, 100)
        self.owned: dict[tuple[str, int], _Owned] = {}
        self._locks: _GroupLocks | _SoleMember | None = None
        self._receiver: _Receiver | None = None
        self._next_rebalance = 0.0
        self._joined = False
        # The lag gauge's view of the streams: where each ends and begins (see _Receiver.stream_end).
        self._ends: dict[tuple[str, int], int] = {}
        self._starts: dict[tuple[str, int], int] = {}
        self._next_ends = 0.0
        self._next_starts = 0.0

    def poll(self, max_messages: int, timeout: float) -> list[Message]:
        try:
            self._connected()
            self._rebalance()  # may have to reconnect
            receiver = self._connected()
            receiver.wait(timeout)
            taken = receiver.take(max_messages)
        except AMQPError as error:
            logger.warning("RabbitMQ connection lost (%s); resuming from the stored offsets", error)
            self._disconnect()
            time.sleep(min(timeout, 1.0))
            return []
        except DatabaseError as error:
            # Consuming again after a reconnection reads each owned stream's stored offset: the database is away,
            # or this connection did not survive its restart. Every owned stream is consumed again once it answers.
            logger.warning("database unreachable while resuming streams (%s); retrying", error)
            connections[self.using].close()
            self._disconnect()
            time.sleep(min(timeout, 1.0))
            return []
        batch = []
        for message in taken:
            owned = self.owned.get((message.topic, message.partition))
            if owned is None or message.offset < owned.position:
                continue  # a stream given up meanwhile, or a message before the position asked for
            owned.position = message.offset + 1
            batch.append(message)
        if not batch:
            receiver.ack(taken)
        return batch

    def record(self, messages: Sequence[Message]) -> None:
        for key, next_offset in _next_offsets(messages).items():
            owned = self.owned.get(key)
            if owned is None:
                raise PartitionLost(f"{stream_name(*key)} is no longer consumed here")
            offsets = StreamOffset.objects.using(self.using).filter(group=self.group, stream=stream_name(*key))
            if owned.stored is None:
                row = {"group": self.group, "stream": stream_name(*key), "next_offset": next_offset}
                moved = len(insert_rows(StreamOffset, [row], using=self.using, conflict=["group", "stream"], returning=["id"]))
            else:
                moved = offsets.filter(next_offset=owned.stored).update(next_offset=next_offset)
            if not moved:
                self._give_up(key)
                raise PartitionLost(f"another member of {self.group} moved {stream_name(*key)}")

    def committed(self, messages: Sequence[Message]) -> None:
        for key, next_offset in _next_offsets(messages).items():
            if key in self.owned:
                self.owned[key].stored = next_offset
        if self._receiver is not None:
            try:
                self._receiver.ack(messages)
            except AMQPError as error:
                logger.info("acknowledgement failed (%s); the offsets are stored", error)
                self._disconnect()

    def joined(self) -> bool:
        return self._joined

    def observe_lag(self, service: str) -> None:
        """Per owned stream: its end (asked of the broker every STREAM_ENDS_EVERY seconds) minus the group's
        stored offset (on every call, so a stream just caught up reads 0 at once)."""
        now = time.monotonic()
        if self._receiver is not None and now >= self._next_ends:
            self._next_ends = now + STREAM_ENDS_EVERY
            refresh_starts = now >= self._next_starts
            if refresh_starts:
                self._next_starts = now + STREAM_STARTS_EVERY
            try:
                for key in self.owned:
                    first = None if refresh_starts else self._starts.get(key)
                    self._ends[key], self._starts[key] = self._receiver.stream_end(stream_name(*key), first)
            except AMQPError as error:
                logger.info("could not read the streams' ends (%s); the lag gauge waits for the next round", error)
        for key, owned in self.owned.items():
            if key in self._ends:
                stored = owned.stored if owned.stored is not None else self._starts.get(key, 0)
                consumer_lag.labels(service, key[0], str(key[1])).set(max(self._ends[key] - stored, 0))

    def close(self) -> None:
        for key in list(self.owned):
            self._give_up(key)
        self._disconnect()
        if self._locks is not None:
            self._locks.close()
            self._locks = None

    def _connected(self) -> _Receiver:
        if self._receiver is None:
            self._receiver = _Receiver(self.prefetch)
            for key in self.owned:
                self._consume(key)
        return self._receiver

    def _disconnect(self) -> None:
        receiver, self._receiver = self._receiver, None
        if receiver is not None:
            receiver.close()

    def _consume(self, key: tuple[str, int]) -> None:
        assert self._receiver is not None
        stored = (
            StreamOffset.objects.using(self.using)
            .filter(group=self.group, stream=stream_name(*key))
            .values_list("next_offset", flat=True)
            .first()
        )
        self.owned[key] = _Owned(stored=stored, position=stored or 0)
        self._receiver.consume(key, stored if stored is not None else "first")

    def _give_up(self, key: tuple[str, int]) -> None:
        owned = self.owned.pop(key, None)
        if owned is None:
            return
        # Not basic.cancel: pika nacks what it received for a cancelled consumer but has not dispatched, and
        # RabbitMQ closes the connection on a nack to a stream. Closing the connection releases it quietly;
        # the streams still owned are consumed again from their stored offsets.
        self._disconnect()
        if self._locks is not None:
            try:
                self._locks.release(stream_name(*key))
            except Exception:
                logger.exception("could not release %s", stream_name(*key))

    def _rebalance(self) -> None:
        """Take free streams up to this member's fair share, give up what is beyond it."""
        now = time.monotonic()
        if now < self._next_rebalance:
            return
        self._next_rebalance = now + REBALANCE_EVERY
        try:
            self._take_fair_share()
            self._joined = True
        except Exception as error:
            self._joined = False
            # The group lives in the database: without it this member can prove no ownership, so it holds nothing
            # until the database answers again, and the stored offsets say where to resume.
            logger.warning("lost the group's lock connection (%s); giving up every stream", error)
            self.owned.clear()
            self._disconnect()
            if self._locks is not None:
                self._locks.close()
            self._locks = None

    def _take_fair_share(self) -> None:
        if self._locks is None:
            self._locks = _group_locks(self.using, self.group)
        fair = math.ceil(len(self.partitions) / max(self._locks.members(), 1))
        for key in list(self.owned)[fair:]:
            logger.info("giving up %s to another member of %s", stream_name(*key), self.group)
            self._give_up(key)
        if len(self.owned) >= fair:
            return
        start = random.randrange(len(self.partitions))  # members starting together try different streams first
        for key in self.partitions[start:] + self.partitions[:start]:
            if key not in self.owned and self._locks.take(stream_name(*key)):
                self._consume(key)
                if len(self.owned) >= fair:
                    return


class _GroupLocks:
    """The consumer group in PostgreSQL advisory locks, on a connection of their own (autocommit): a shared lock
    per member, an exclusive one per stream consumed. A dead member's connection ends and its locks with it."""

    def __init__(self, using: str, group: str) -> None:
        try:
            import psycopg
        except ModuleNotFoundError as error:
            raise missing_extra(error, "postgres", "RabbitMQ's consumer group (PostgreSQL advisory locks)") from error

        params = connections[using].get_connection_params()
        params.pop("cursor_factory", None)
        params.pop("context", None)
        self.group = group
        self.connection = psycopg.connect(**params, autocommit=True)
        self.connection.execute("SELECT pg_advisory_lock_shared(%s, %s)", [MEMBERS_NAMESPACE, _lock_key(group)])

    def members(self) -> int:
        row = self.connection.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 2"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            " AND classid = %s AND objid = %s",
            [MEMBERS_NAMESPACE, _lock_key(self.group)],
        ).fetchone()
        return int(row[0]) if row else 1

    def take(self, stream: str) -> bool:
        row = self.connection.execute("SELECT pg_try_advisory_lock(%s, %s)", [STREAMS_NAMESPACE, self._key(stream)]).fetchone()
        return bool(row and row[0])

    def release(self, stream: str) -> None:
        self.connection.execute("SELECT pg_advisory_unlock(%s, %s)", [STREAMS_NAMESPACE, self._key(stream)])

    def close(self) -> None:
        self.connection.close()

    def _key(self, stream: str) -> int:
        return _lock_key(f"{self.group}\n{stream}")


class _SoleMember:
    """Without PostgreSQL, the one consumer process of a service takes every stream."""

    def members(self) -> int:
        return 1

    def take(self, stream: str) -> bool:
        return True

    def release(self, stream: str) -> None:
        pass

    def close(self) -> None:
        pass


def _group_locks(using: str, group: str) -> _GroupLocks | _SoleMember:
    if connections[using].vendor == "postgresql":
        return _GroupLocks(using, group)
    return _SoleMember()


class RabbitMQReplay:
    """Every stream of the topics from its first message. It ends where the live consumer group's stored offsets
    are: what the live read model holds. (RabbitMQ 3.10 tells an AMQP client no stream's end offset.)"""

    def __init__(self, topics: Sequence[str], group: str) -> None:
        self.group = group
        self.streams = {stream_name(*key): key for key in partitions_of(topics)}
        self._positions = dict.fromkeys(self.streams.values(), 0)
        self.receiver = _Receiver(prefetch=2000)
        for key in self.streams.values():
            self.receiver.consume(key, "first")

    def ends(self) -> dict[tuple[str, int], int]:
        rows = StreamOffset.objects.using(events_settings.DATABASE).filter(group=self.group, stream__in=list(self.streams))
        return {self.streams[stream]: offset for stream, offset in rows.values_list("stream", "next_offset")}

    def positions(self) -> dict[tuple[str, int], int]:
        return dict(self._positions)

    def poll(self, max_messages: int, timeout: float) -> list[Message]:
        self.receiver.wait(timeout)
        taken = self.receiver.take(max_messages)
        self.receiver.ack(taken)
        for message in taken:
            self._positions[(message.topic, message.partition)] = message.offset + 1
        return taken

    def close(self) -> None:
        self.receiver.close()


def _next_offsets(messages: Sequence[Message]) -> dict[tuple[str, int], int]:
    return {(m.topic, m.partition): m.offset + 1 for m in messages}


def _lock_key(text: str) -> int:
    return zlib.crc32(text.encode()) & 0x7FFFFFFF


def _bytes(value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()
