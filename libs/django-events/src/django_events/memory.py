"""The in-memory transport (``DJANGO_EVENTS["TRANSPORT"] = "memory"``): a broker inside the test process.

For tests: publish, relay and consume in one process, through the same relay, consumer, inbox, retries and
dead-lettering as on Kafka or RabbitMQ, with no broker to start. It keeps a broker's contract as the other
transports do: a topic is split into ``TOPIC_PARTITIONS`` ordered logs by a hash of the key, a consumer group
resumes at the position stored after its last committed batch, the partitions of a group are shared between its
open members (a member that loses one mid-batch gets ``PartitionLost``), and a replay reads from the beginning.

What it is not: durable (the log lives as long as the process) or shared between processes, so a relay and a
consumer in two processes (``events_relay`` and ``events_consume``) do not see each other; ``reset()`` empties it.
"""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from .conf import events_settings
from .metrics import consumer_lag
from .wire import Message, PartitionLost

_lock = threading.Condition()


@dataclass
class _Group:
    # (topic, partition) -> the offset of the next message the group has not committed.
    committed: dict[tuple[str, int], int] = field(default_factory=dict)
    members: list[MemorySubscription] = field(default_factory=list)


@dataclass
class _Broker:
    logs: dict[str, list[list[Message]]] = field(default_factory=dict)
    groups: dict[str, _Group] = field(default_factory=dict)

    def topic(self, name: str) -> list[list[Message]]:
        if name not in self.logs:
            self.logs[name] = [[] for _ in range(events_settings.TOPIC_PARTITIONS)]
        return self.logs[name]


_broker = _Broker()


def reset() -> None:
    """Forgets every topic and consumer group (between tests); subscriptions still open see empty topics."""
    with _lock:
        _broker.logs.clear()
        for group in _broker.groups.values():
            group.committed.clear()
            for member in group.members:
                member.positions.clear()
        _lock.notify_all()


def partition_for(key: bytes | None, partitions: int) -> int:
    """A stable hash of the key, so one key's messages stay in one ordered log (and in the same one across runs)."""
    return zlib.crc32(key or b"") % partitions


class MemoryTransport:
    name = "memory"

    def publisher(self, stop: threading.Event | None = None) -> MemoryPublisher:
        return MemoryPublisher()

    def subscribe(self, topics: Sequence[str], group: str) -> MemorySubscription:
        return MemorySubscription(topics, group)

    def replay(self, topics: Sequence[str], group: str) -> MemoryReplay:
        return MemoryReplay(topics)

    def ensure_topics(self, topics: Sequence[str]) -> None:
        with _lock:
            for topic in topics:
                _broker.topic(topic)

    def ready(self, timeout: float) -> tuple[bool, str]:
        return True, "in-memory broker"


class MemoryPublisher:
    def send(self, messages: Sequence[Message], timeout: float) -> list[str | None]:
        with _lock:
            for message in messages:
                log = _broker.topic(message.topic)
                index = partition_for(message.key, len(log))
                log[index].append(Message(
                    message.topic, key=message.key, value=message.value, headers=list(message.headers),
                    partition=index, offset=len(log[index]),
                ))
            _lock.notify_all()
        return [None] * len(messages)

    def close(self, timeout: float) -> None:
        pass


class MemorySubscription:
    """A member of a consumer group: the group's partitions are dealt round-robin between its open members."""

    def __init__(self, topics: Sequence[str], group: str) -> None:
        self.topics = list(topics)
        self.group_id = group
        # Where this member reads next in each partition it holds; taken from the group's committed offsets
        # when it gains the partition.
        self.positions: dict[tuple[str, int], int] = {}
        with _lock:
            for topic in self.topics:
                _broker.topic(topic)
            self.group = _broker.groups.setdefault(group, _Group())
            self.group.members.append(self)

    def _owned(self) -> list[tuple[str, int]]:
        members = self.group.members
        if self not in members:
            return []
        every = sorted((topic, p) for topic in self.topics for p in range(len(_broker.topic(topic))))
        mine = every[members.index(self)::len(members)]
        self.positions = {tp: self.positions.get(tp, self.group.committed.get(tp, 0)) for tp in mine}
        return mine

    def poll(self, max_messages: int, timeout: float) -> list[Message]:
        deadline = time.monotonic() + timeout
        with _lock:
            while True:
                taken: list[Message] = []
                for tp in self._owned():
                    log = _broker.topic(tp[0])[tp[1]]
                    start = self.positions[tp]
                    chunk = log[start:start + max_messages - len(taken)]
                    self.positions[tp] = start + len(chunk)
                    taken.extend(chunk)
                    if len(taken) >= max_messages:
                        break
                remaining = deadline - time.monotonic()
                if taken or remaining <= 0:
                    return taken
                _lock.wait(remaining)

    def record(self, messages: Sequence[Message]) -> None:
        with _lock:
            owned = set(self._owned())
        for message in messages:
            if (message.topic, message.partition) not in owned:
                raise PartitionLost(f"partition {message.partition} of {message.topic} moved to another member")

    def committed(self, messages: Sequence[Message]) -> None:
        with _lock:
            for message in messages:
                tp = (message.topic, message.partition)
                self.group.committed[tp] = max(self.group.committed.get(tp, 0), message.offset + 1)

    def joined(self) -> bool:
        return True

    def observe_lag(self, service: str) -> None:
        with _lock:
            for topic, partition in self._owned():
                end = len(_broker.topic(topic)[partition])
                lag = end - self.group.committed.get((topic, partition), 0)
                consumer_lag.labels(service, topic, str(partition)).set(max(lag, 0))

    def close(self) -> None:
        with _lock:
            if self in self.group.members:
                self.group.members.remove(self)
            self.positions.clear()


class MemoryReplay:
    def __init__(self, topics: Sequence[str]) -> None:
        with _lock:
            self.partitions = [(t, p) for t in topics if t in _broker.logs for p in range(len(_broker.logs[t]))]
        self._positions = dict.fromkeys(self.partitions, 0)

    def ends(self) -> dict[tuple[str, int], int]:
        with _lock:
            return {(t, p): len(_broker.logs[t][p]) for t, p in self.partitions}

    def positions(self) -> dict[tuple[str, int], int]:
        return dict(self._positions)

    def poll(self, max_messages: int, timeout: float) -> list[Message]:
        taken: list[Message] = []
        with _lock:
            for tp in self.partitions:
                log = _broker.logs[tp[0]][tp[1]]
                chunk = log[self._positions[tp]:self._positions[tp] + max_messages - len(taken)]
                self._positions[tp] += len(chunk)
                taken.extend(chunk)
        if not taken:
            time.sleep(min(timeout, 0.05))
        return taken

    def close(self) -> None:
        pass
