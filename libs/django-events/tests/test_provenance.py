"""The owner check on each broker: an event from another source than its type's owner, or on another type's
topic, is dead-lettered with its reason and applies nothing; the owner's own events still apply. And a believed
source that no subscriber takes (``handles(..., sources=...)``) is acknowledged, not dead-lettered."""

import uuid

import pytest
from django.core.checks import run_checks

import django_events
from django_events import Catalogue, ContractViolation
from django_events.consumer import DEAD_LETTER_SUBSCRIBER
from django_events.metrics import consumer_dead_lettered, consumer_ignored
from django_events.models import DeadLetter, InboxEvent
from django_events.registry import registry
from tests.conftest import consume_until, publish_raw, publish_ticks, read_topic, relay_until_empty
from tests.test_checks import ids
from tests.testapp.models import Applied, NoteView

OWNERS = {"tick.happened": "testapp", "note.created": "testapp", "note.edited": "testapp", "note.deleted": "testapp"}


@pytest.fixture
def owned(live, settings):
    settings.DJANGO_EVENTS = {**settings.DJANGO_EVENTS, "OWNERS": OWNERS}
    return live


def forged(event_type: str, key: str, data: dict, source: str) -> bytes:
    return django_events.Event(type=event_type, key=key, data=data, source=source).to_json().encode()


def dead_letters(topic: str, count: int) -> dict[str, str]:
    """The dead-lettered events of ``topic``: event id -> reason."""
    return {
        str(uuid.UUID(django_events.Event.from_json(m.value).id.hex)): dict(m.headers)["dead_letter_reason"].decode()
        for m in read_topic(topic + ".dlq", count)
    }


def test_an_event_whose_source_is_not_its_owner_is_dead_lettered_and_applies_nothing(owned):
    topic = django_events.topic_for("tick.happened")
    intruder = forged("tick.happened", "key-0", {"seq": 99}, source="intruder")
    publish_raw(topic, key=b"key-0", value=intruder)
    anonymous = forged("tick.happened", "key-0", {"seq": 98}, source="")
    publish_raw(topic, key=b"key-0", value=anonymous)
    genuine = publish_ticks(keys=1, per_key=2)
    relay_until_empty()

    consume_until(lambda: Applied.objects.count() >= 2 and InboxEvent.objects.count() >= 2)

    assert sorted(Applied.objects.values_list("event_id", flat=True)) == sorted(e.id for e in genuine)
    reasons = dead_letters(topic, 2)
    # A CloudEvent must name a source: the envelope writes "unknown" for an empty one.
    assert sorted(reasons.values()) == [
        "source 'intruder' is not the owner of tick.happened ('testapp')",
        "source 'unknown' is not the owner of tick.happened ('testapp')",
    ]
    # Refused on arrival: nothing of them reached a handler or the inbox.
    assert not InboxEvent.objects.filter(event_id__in=[uuid.UUID(i) for i in reasons]).exists()
    assert not InboxEvent.objects.filter(subscriber=DEAD_LETTER_SUBSCRIBER).exists()


def test_an_event_on_another_types_topic_is_dead_lettered_even_from_the_owner(owned):
    """A producer allowed on one topic cannot deliver another topic's type through it."""
    note_topic = django_events.topic_for("note.created")
    smuggled = forged("tick.happened", "key-0", {"seq": 7}, source="testapp")
    publish_raw(note_topic, key=b"key-0", value=smuggled)
    genuine = forged("note.created", "n-1", {"note_id": "n-1", "text": "hello"}, source="testapp")
    publish_raw(note_topic, key=b"n-1", value=genuine)
    refused = consumer_dead_lettered.labels("testapp", "tick.happened")
    refused_before = refused._value.get()

    # The two keys may fall on different partitions, consumed in either order.
    consume_until(lambda: NoteView.objects.filter(id="n-1").exists() and refused._value.get() > refused_before)

    assert Applied.objects.count() == 0
    [reason] = dead_letters(note_topic, 1).values()
    own = django_events.topic_for("tick.happened")
    assert reason == f"tick.happened arrived on topic {note_topic}, not on its own topic {own}"


def test_a_type_may_name_several_owners_while_its_production_moves(settings):
    """A monolith handing a seam over to a service: both publish the type for a while, and both are believed."""
    from django_events.provenance import refusal

    settings.DJANGO_EVENTS = {**settings.DJANGO_EVENTS, "OWNERS": {**OWNERS, "tick.happened": ["testapp", "monolith"]}}
    topic = django_events.topic_for("tick.happened")
    for source, expected in [("testapp", None), ("monolith", None),
                             ("intruder", "source 'intruder' is not the owner of tick.happened (['testapp', 'monolith'])")]:
        assert refusal(django_events.Event(type="tick.happened", key="k", data={"seq": 1}, source=source), topic) == expected


@django_events.handles("tick.happened", sources=("testapp",))
def record_first_hand_tick(event: django_events.Event) -> None:
    Applied.objects.create(event_id=event.id, key=event.key, seq=event.data["seq"])


@pytest.fixture
def first_hand_ticks(live, settings):
    """While a monolith hands ticks over: it is believed, but the ticks are counted from their owner alone."""
    settings.DJANGO_EVENTS = {**settings.DJANGO_EVENTS, "OWNERS": {**OWNERS, "tick.happened": ["testapp", "monolith"]}}
    before = dict(registry.subscribers)
    registry.subscribers.pop("tests.testapp.projections.record_tick")
    django_events.subscribe(record_first_hand_tick)
    yield live
    registry.subscribers.clear()
    registry.subscribers.update(before)


def test_a_believed_source_no_subscriber_takes_is_acknowledged_not_dead_lettered(first_hand_ticks):
    topic = django_events.topic_for("tick.happened")
    second_hand = forged("tick.happened", "key-0", {"seq": 99}, source="monolith")
    publish_raw(topic, key=b"key-0", value=second_hand)
    genuine = publish_ticks(keys=1, per_key=2)
    relay_until_empty()
    ignored = consumer_ignored.labels("testapp", "tick.happened", "monolith")
    ignored_before = ignored._value.get()
    refused = consumer_dead_lettered.labels("testapp", "tick.happened")
    refused_before = refused._value.get()

    consume_until(lambda: Applied.objects.count() >= 2 and ignored._value.get() > ignored_before)

    assert sorted(Applied.objects.values_list("event_id", flat=True)) == sorted(e.id for e in genuine)
    assert refused._value.get() == refused_before
    assert not DeadLetter.objects.exists()
    assert not InboxEvent.objects.filter(event_id=django_events.Event.from_json(second_hand).id).exists()


def test_without_owners_any_source_is_believed(live):
    topic = django_events.topic_for("tick.happened")
    publish_raw(topic, key=b"key-0", value=forged("tick.happened", "key-0", {"seq": 1}, source="anyone"))

    consume_until(lambda: Applied.objects.count() == 1)


@pytest.mark.parametrize(
    "owners, expected",
    [
        (OWNERS, []),
        ({"note.created": "testapp"}, ["django_events.E009"]),
        ({"tick.happened": ""}, ["django_events.E008"]),
        ("testapp", ["django_events.E008"]),
        ({**OWNERS, "tick.happened": ["testapp", "monolith"]}, []),
        ({**OWNERS, "tick.happened": []}, ["django_events.E008"]),
    ],
)
def test_owners_that_miss_a_consumed_type_or_are_malformed_are_reported(settings, owners, expected):
    settings.DJANGO_EVENTS = {**settings.DJANGO_EVENTS, "OWNERS": owners}
    assert ids(run_checks()) == expected


def test_a_subscriber_taking_only_sources_owners_does_not_believe_is_warned(settings):
    settings.DJANGO_EVENTS = {**settings.DJANGO_EVENTS, "OWNERS": OWNERS}
    before = dict(registry.subscribers)
    django_events.subscribe(record_first_hand_tick)
    try:
        assert ids(run_checks()) == []
        settings.DJANGO_EVENTS = {**settings.DJANGO_EVENTS, "OWNERS": {**OWNERS, "tick.happened": "monolith"}}
        [warning] = [e for e in run_checks() if e.id == "django_events.W002"]
        assert "record_first_hand_tick handles tick.happened from testapp only" in warning.msg
    finally:
        registry.subscribers.clear()
        registry.subscribers.update(before)


def test_a_consumer_without_owners_is_warned_under_check_deploy(settings):
    assert "django_events.W001" in [e.id for e in run_checks(include_deployment_checks=True)]
    settings.DJANGO_EVENTS = {**settings.DJANGO_EVENTS, "OWNERS": OWNERS}
    assert "django_events.W001" not in [e.id for e in run_checks(include_deployment_checks=True)]


def test_the_catalogue_names_each_types_owner(tmp_path):
    for event_type, version, producer in [("a.made", 1, "a-service"), ("a.made", 2, "a-service"), ("b.made", 1, "b-service")]:
        (tmp_path / event_type).mkdir(exist_ok=True)
        (tmp_path / event_type / f"v{version}.json").write_text(f'{{"x-producer": "{producer}", "type": "object"}}')
    assert Catalogue(tmp_path).owners() == {"a.made": "a-service", "b.made": "b-service"}

    (tmp_path / "b.made" / "v2.json").write_text('{"x-producer": "c-service", "type": "object"}')
    with pytest.raises(ContractViolation, match="earlier version"):
        Catalogue(tmp_path).owners()
