"""A database outage under the workers: they wait it out, and no event is dead-lettered or lost for it."""

import time

import django_events
from django_events.consumer import DEAD_LETTER_SUBSCRIBER, Consumer
from django_events.models import InboxEvent
from django_events.relay import Relay
from django_events.transport import Message, get_transport
from tests.conftest import (
    Worker,
    consume_until,
    database_outage,
    publish_ticks,
    relay_until_empty,
    wait_until,
)
from tests.testapp.models import Applied

# Longer than the consumer's whole retry budget in these settings (RETRIES=2, RETRY_BACKOFF=0.01).
OUTAGE_SECONDS = 3.0


def send_to_broker(events: list[django_events.Event]) -> None:
    """Straight to the topic, as the relay would: the outbox is out of reach during the outage."""
    publisher = get_transport().publisher()
    try:
        messages = [Message(e.topic, key=e.key.encode(), value=e.to_json().encode(), headers=e.headers()) for e in events]
        assert publisher.send(messages, 10) == [None] * len(events)
    finally:
        publisher.close(10)


def stop(worker: Worker) -> None:
    worker.terminate()
    assert worker.wait(30) == 0, worker.log().decode()[-3000:]


def test_events_arriving_during_a_database_outage_are_applied_after_it_not_dead_lettered(live):
    worker = Worker("events_consume", live)
    try:
        publish_ticks(keys=2, per_key=2)
        relay_until_empty()
        wait_until(lambda: Applied.objects.count() == 4, "the consumer running")
        during = [django_events.Event("tick.happened", key=f"key-{n % 2}", data={"seq": 10 + n}) for n in range(4)]

        with database_outage():
            send_to_broker(during)
            time.sleep(OUTAGE_SECONDS)  # the outage itself, while the consumer holds the events

        wait_until(lambda: Applied.objects.count() == 8, "the events held during the outage applied")
        assert worker.poll() is None, worker.log().decode()[-3000:]
        assert {event.id for event in during} <= set(Applied.objects.values_list("event_id", flat=True))
        assert not InboxEvent.objects.filter(subscriber=DEAD_LETTER_SUBSCRIBER).exists()
    finally:
        stop(worker)


def test_a_relay_rides_out_a_database_outage_and_sends_what_is_committed_after_it(live):
    relay = Worker("events_relay", live)
    try:
        relay.wait_ready()
        with database_outage():
            time.sleep(OUTAGE_SECONDS)  # the relay's connection is cut and reconnecting is refused

        published = publish_ticks(keys=2, per_key=3)
        consume_until(lambda: Applied.objects.count() == len(published))
        assert relay.poll() is None, relay.log().decode()[-3000:]
    finally:
        stop(relay)


def test_housekeeping_during_a_database_outage_is_skipped_without_stopping_the_workers(live):
    consumer, relay = Consumer(), Relay()
    try:
        with database_outage():
            consumer.poll_once(0.2)  # an idle consumer's first round cleans the inbox
            relay._housekeeping()
        publish_ticks(keys=1, per_key=1)
        relay_until_empty()
        # Both still work: the consumer applies the tick the relay sends.
        wait_until(lambda: consumer.poll_once(0.2) >= 0 and Applied.objects.count() == 1, "the tick applied")
    finally:
        consumer.close()
