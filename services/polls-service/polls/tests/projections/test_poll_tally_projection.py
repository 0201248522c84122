import uuid

import django_events
import event_contracts
import pytest
from django_events.consumer import Consumer
from django_events.models import DeadLetter
from django_events.testing import deliver, make_event
from django_events.transport import Message, get_transport

from polls.models import PollTally

pytestmark = pytest.mark.django_db


def vote_cast(poll_id, version=1, source="vote-service", vote_id=None):
    data = {"vote_id": str(vote_id or uuid.uuid4()), "poll_id": str(poll_id), "choice_id": str(uuid.uuid4()),
            "voter_id": str(uuid.uuid4()), "created_at": "2026-11-24T00:00:00+00:00"}
    return make_event("vote.cast", data, key=str(poll_id), version=version, source=source)


def test_each_vote_cast_counts_once_even_when_redelivered():
    poll_id = uuid.uuid4()
    first, second = vote_cast(poll_id), vote_cast(poll_id)

    deliver(first, second, first)
    deliver(second)

    assert PollTally.objects.get(poll_id=poll_id).total_votes == 2


def test_polls_are_tallied_apart():
    a, b = uuid.uuid4(), uuid.uuid4()
    deliver(vote_cast(a), vote_cast(b), vote_cast(a))
    assert dict(PollTally.objects.values_list("poll_id", "total_votes")) == {a: 2, b: 1}


def test_an_unknown_version_is_refused():
    with pytest.raises(django_events.UnsupportedVersion):
        deliver(vote_cast(uuid.uuid4(), version=2))
    assert not PollTally.objects.exists()


def test_a_voided_vote_no_longer_counts_even_when_redelivered():
    poll_id = uuid.uuid4()
    kept, late = vote_cast(poll_id), vote_cast(poll_id)
    voided = make_event("vote.voided", {**late.data, "reason": "after_close"}, key=str(poll_id))

    deliver(kept, late, voided, voided)

    assert PollTally.objects.get(poll_id=poll_id).total_votes == 1


def test_a_vote_voided_in_a_later_batch_is_subtracted():
    # The void arrives after the close, in a batch of its own: a negative addition to a PositiveIntegerField.
    poll_id = uuid.uuid4()
    kept, late = vote_cast(poll_id), vote_cast(poll_id)
    deliver(kept, late)

    deliver(make_event("vote.voided", {**late.data, "reason": "after_close"}, key=str(poll_id)))

    assert PollTally.objects.get(poll_id=poll_id).total_votes == 1


@pytest.fixture
def migrating(settings, request):
    """This service's consumer while the polls seam moves out of the monolith (MIGRATING_FROM=monolith), on the
    in-memory broker."""
    owners = event_contracts.owners_while_migrating("monolith", settings.MIGRATING_FAMILIES)
    settings.DJANGO_EVENTS = {**settings.DJANGO_EVENTS, "TRANSPORT": "memory", "OWNERS": owners}
    request.getfixturevalue("isolated_topics")


def consume(*events):
    publisher = get_transport().publisher()
    try:
        topic = django_events.topic_for("vote.cast")
        messages = [Message(topic, key=e.key.encode(), value=e.to_json().encode()) for e in events]
        assert publisher.send(messages, 10) == [None] * len(events)
    finally:
        publisher.close(10)
    consumer = Consumer()
    try:
        while consumer.poll_once(0.1):
            pass
    finally:
        consumer.close()


@pytest.mark.django_db(transaction=True)
def test_while_migrating_the_monoliths_vote_cast_is_acknowledged_and_vote_services_counts_once(migrating):
    # The monolith announces a vote, and vote-service, importing it, announces it again as its own.
    poll_id, vote_id = uuid.uuid4(), uuid.uuid4()
    from_monolith = vote_cast(poll_id, source="monolith", vote_id=vote_id)
    from_vote_service = vote_cast(poll_id, vote_id=vote_id)

    consume(from_monolith, from_vote_service, from_monolith)

    assert PollTally.objects.get(poll_id=poll_id).total_votes == 1
    assert not DeadLetter.objects.exists()
