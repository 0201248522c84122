"""Per-key commit order across concurrent writers, on real PostgreSQL: writers on threads of their own, each with
its own connection, racing to publish for one key; the relay must send the key's events in the order their
transactions committed, not the order their outbox rows were numbered."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator, Sequence

import pytest
from django.db import connection, transaction
from pytest_django import Settings

import django_events
from django_events.relay import Relay
from django_events.transport import Message
from tests.conftest import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


class Recording:
    """A publisher that acknowledges everything and remembers the order it was handed messages in: what a
    partition of the broker would hold."""

    def __init__(self) -> None:
        self.sent: list[Message] = []

    def send(self, messages: Sequence[Message], timeout: float) -> list[str | None]:
        self.sent.extend(messages)
        return [None] * len(messages)

    def close(self, timeout: float) -> None:
        pass

    def labels(self, key: str, topic: str = "tick") -> list[str]:
        """The labels of one key's events in the order they were sent."""
        topic = django_events.topic_for(f"{topic}.happened")
        sent = [m for m in self.sent if m.key == key.encode() and m.topic == topic]
        return [django_events.Event.from_json(m.value).data["label"] for m in sent]


def relayed() -> Recording:
    recording = Recording()
    relay = Relay(recording)
    while relay.send_batch():
        pass
    return recording


class Writers:
    """Threads running ``target`` each, every one on its own database connection; any exception fails the test."""

    def __init__(self) -> None:
        self.threads: list[threading.Thread] = []
        self.errors: list[BaseException] = []
        self.commits: list[str] = []
        self._lock = threading.Lock()

    def start(self, target: Callable[[], object]) -> None:
        def run() -> None:
            try:
                target()
            except BaseException as error:  # noqa: BLE001 - reported by join()
                self.errors.append(error)
            finally:
                connection.close()

        thread = threading.Thread(target=run, daemon=True)
        self.threads.append(thread)
        thread.start()

    def committing(self, label: str) -> None:
        """Called as a transaction's last statement before its commit. The next writer of the key can only
        commit after this one did (or the test fails anyway), so this is the commit order."""
        with self._lock:
            self.commits.append(label)

    def join(self) -> None:
        for thread in self.threads:
            thread.join(60)
            assert not thread.is_alive(), "a writer hangs"
        assert not self.errors, self.errors


@pytest.fixture
def writers() -> Iterator[Writers]:
    yield (running := Writers())
    for thread in running.threads:
        thread.join(60)


def backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return int(cursor.fetchone()[0])


def waiting_on_a_lock(pid: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = %s", [pid])
        row = cursor.fetchone()
        return bool(row and row[0])


def waiting_for_keys() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
        return int(cursor.fetchone()[0])


def race_two_writers(writers: Writers) -> list[str]:
    """A publishes first (the lower outbox number) but commits only after B, who published after it, committed, or
    once B waits for A, whichever the library lets happen. Returns the labels in the order the relay sent them."""
    a_published, b_committed = threading.Event(), threading.Event()
    b_pid: list[int] = []

    def first() -> None:
        with transaction.atomic():
            django_events.publish("tick.happened", key="k", data={"label": "A"})
            a_published.set()
            wait_until(lambda: b_committed.is_set() or (bool(b_pid) and waiting_on_a_lock(b_pid[0])), "B to move", 30)
            writers.committing("A")

    def second() -> None:
        a_published.wait(30)
        b_pid.append(backend_pid())
        with transaction.atomic():
            django_events.publish("tick.happened", key="k", data={"label": "B"})
            writers.committing("B")
        b_committed.set()

    writers.start(first)
    writers.start(second)
    writers.join()
    return relayed().labels("k")


def test_a_later_numbered_event_committed_first_is_sent_first(writers: Writers) -> None:
    assert race_two_writers(writers) == writers.commits


def test_without_the_key_lock_the_race_sends_a_key_out_of_commit_order(writers: Writers, settings: Settings) -> None:
    """The race above on publish() as it was before KEY_COMMIT_ORDER (the setting off skips the lock and nothing
    else): B commits first and is sent second. It shows the test above can fail, and on what."""
    settings.DJANGO_EVENTS = {**settings.DJANGO_EVENTS, "KEY_COMMIT_ORDER": False}
    sent = race_two_writers(writers)
    assert (writers.commits, sent) == (["B", "A"], ["A", "B"])


def test_many_writers_racing_on_one_key_are_sent_in_commit_order(writers: Writers) -> None:
    """Writers interleave transactions on one key (and on keys of their own, which must not wait for each other)."""
    rounds = 15

    def writer(name: str) -> Callable[[], None]:
        def run() -> None:
            pace = random.Random(name)
            for n in range(rounds):
                with transaction.atomic():
                    django_events.publish("tick.happened", key=f"own-{name}", data={"label": f"{name}{n}"})
                    django_events.publish("tick.happened", key="shared", data={"label": f"{name}{n}"})
                    pace_time = pace.random() * 0.01
                    threading.Event().wait(pace_time)
                    writers.committing(f"{name}{n}")

        return run

    for name in "abcd":
        writers.start(writer(name))
    writers.join()

    recording = relayed()
    assert recording.labels("shared") == writers.commits
    for name in "abcd":
        assert recording.labels(f"own-{name}") == [f"{name}{n}" for n in range(rounds)]


def holding_a_publish(key: str, writers: Writers) -> tuple[threading.Event, threading.Event]:
    """A writer that publishes for ``key`` and keeps its transaction open until told to commit."""
    published, finish = threading.Event(), threading.Event()

    def hold() -> None:
        with transaction.atomic():
            django_events.publish("tick.happened", key=key, data={"label": "held"})
            published.set()
            finish.wait(30)

    writers.start(hold)
    assert published.wait(30)
    return published, finish


def test_other_keys_do_not_wait_for_an_open_transaction(writers: Writers) -> None:
    _, finish = holding_a_publish("busy", writers)
    try:
        for key in ("other", "another"):
            with transaction.atomic():  # would hang here, on this test's own connection, if it waited
                django_events.publish("tick.happened", key=key, data={"label": key})
            # and outside a transaction too
            django_events.publish("tick.happened", key=key, data={"label": f"{key} again"})
    finally:
        finish.set()
    writers.join()
    recording = relayed()
    assert recording.labels("other") == ["other", "other again"] and recording.labels("busy") == ["held"]


def test_the_same_topic_and_key_waits_and_turned_off_it_does_not(writers: Writers, settings: Settings) -> None:
    _, finish = holding_a_publish("busy", writers)
    second = Writers()
    try:
        second.start(lambda: django_events.publish("tick.happened", key="busy", data={"label": "later"}))
        # another topic's key of the same name is not the same key
        django_events.publish("note.created", key="busy", data={"label": "note"})
        wait_until(lambda: waiting_for_keys() == 1, "the second writer to wait for the key")

        settings.DJANGO_EVENTS = {**settings.DJANGO_EVENTS, "KEY_COMMIT_ORDER": False}
        django_events.publish("tick.happened", key="busy", data={"label": "unordered"})
    finally:
        finish.set()
    writers.join()
    second.join()
    recording = relayed()
    # numbered after "held", which was open when it committed, and sent after it: the order without the lock
    assert recording.labels("busy") == ["held", "unordered", "later"]
    assert recording.labels("busy", topic="note") == ["note"]
