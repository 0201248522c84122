"""The relay and the consumer through broker outages, on a broker of the test's own (the shared one keeps serving
the other tests): started while it is down, running while it stops and starts, stopped while it is away.

The library cannot start a broker by itself: ``EVENTS_TEST_BROKER_CTL`` names a command that does, called with
``kafka-up``, ``kafka-down``, ``rabbitmq-up`` or ``rabbitmq-down`` and the broker's port, home and (Kafka) jars in
KAFKA_PORT/KAFKA_HOME/KAFKA_LIBS or RABBITMQ_PORT/RABBITMQ_DIST_PORT/RABBITMQ_HOME. This repository's Makefile
passes ``bash infra/infra.sh``; without the variable these tests are skipped, saying so."""

import os
import shlex
import signal
import subprocess
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import Worker, publish_ticks, wait_until, with_overrides
from tests.testapp.models import Applied

CONTROL = shlex.split(os.environ.get("EVENTS_TEST_BROKER_CTL", ""))
pytestmark = pytest.mark.skipif(not CONTROL, reason="EVENTS_TEST_BROKER_CTL names no command to start a broker with")


@dataclass
class OwnBroker:
    settings: dict[str, str]
    infra_env: dict[str, str]
    transport: str
    # What a consumer logs once it has noticed that the broker went away.
    outage_noticed: bytes

    def start(self) -> None:
        self._infra("up")

    def stop(self) -> None:
        self._infra("down")

    def _infra(self, action: str) -> None:
        subprocess.run([*CONTROL, f"{self.transport}-{action}"], env=self.infra_env, check=True, capture_output=True)


@pytest.fixture
def own_broker(transport: str, tmp_path: Path) -> Iterator[OwnBroker]:
    """SECOND_KAFKA_PORT and SECOND_RABBITMQ_PORT move it (and the next port, which it also takes)."""
    if transport == "memory":
        pytest.skip("the in-memory broker has no outage")
    home = tmp_path / transport
    home.mkdir()
    # A JVM starting on a loaded machine can take minutes to open its port.
    env = {**os.environ, "INFRA_WAIT_SECONDS": "240"}
    if transport == "kafka":
        port = int(os.environ.get("SECOND_KAFKA_PORT", 19292))
        env |= {"KAFKA_PORT": str(port), "KAFKA_HOME": str(home)}
        jars = Path(os.environ.get("KAFKA_LIBS", "/nonexistent"))
        if jars.is_dir():  # else the controller fetches them
            (home / "libs").symlink_to(jars)
        broker = OwnBroker({"BOOTSTRAP_SERVERS": f"127.0.0.1:{port}"}, env, transport, b"session timed out")
    else:
        port = int(os.environ.get("SECOND_RABBITMQ_PORT", 21672))
        env |= {"RABBITMQ_PORT": str(port), "RABBITMQ_DIST_PORT": str(port + 1), "RABBITMQ_HOME": str(home)}
        settings = {"RABBITMQ_URL": f"amqp://guest:guest@127.0.0.1:{port}/%2F"}
        broker = OwnBroker(settings, env, transport, b"RabbitMQ connection lost")
    yield broker
    subprocess.run([*CONTROL, f"{transport}-down"], env=env, check=False)


def test_a_broker_down_at_the_start_and_restarted_under_load_loses_nothing_and_applies_nothing_twice(
    live, settings, own_broker
):
    """The relay and a consumer start while the broker is down; the broker starts, stops and starts again while
    events are committed. A consumer stopped while the broker is away (after it noticed, its group session lost)
    exits cleanly, and its successor takes over. Every event is applied once, in key order."""
    settings.DJANGO_EVENTS = {**settings.DJANGO_EVENTS, **own_broker.settings}
    env = with_overrides(live, **own_broker.settings)
    published = publish_ticks(keys=4, per_key=25)  # committed; no broker is listening
    relay, consumer = Worker("events_relay", env), Worker("events_consume", env)
    workers = [relay, consumer]
    try:
        own_broker.start()
        wait_until(lambda: Applied.objects.count() >= 100, "the events committed before the broker was up", 180)

        own_broker.stop()
        published += publish_ticks(keys=4, per_key=25, start=25)
        wait_until(lambda: own_broker.outage_noticed in consumer.log(), "the consumer noticing", 120)
        consumer.send_signal(signal.SIGTERM)
        assert consumer.wait(30) == 0, consumer.log().decode()[-2000:]
        consumer = Worker("events_consume", env)
        workers.append(consumer)

        own_broker.start()
        published += publish_ticks(keys=4, per_key=25, start=50)
        wait_until(lambda: Applied.objects.count() >= 300, "the events after the restart", 180)
        time.sleep(1)  # room for a wrongful second application to show
    finally:
        running = [worker for worker in workers if worker.poll() is None]
        for worker in running:
            worker.terminate()
        codes = [worker.wait(30) for worker in running]
    assert codes == [0] * len(running), [worker.log().decode()[-2000:] for worker in running]

    applied = list(Applied.objects.order_by("id").values_list("event_id", "key", "seq"))
    assert sorted(event_id for event_id, _, _ in applied) == sorted(e.id for e in published)
    by_key = defaultdict(list)
    for _, key, seq in applied:
        by_key[key].append(seq)
    assert all(seqs == list(range(75)) for seqs in by_key.values()) and len(by_key) == 4
