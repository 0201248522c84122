"""The read models of the contracts (read_models): the poll read model each service subclasses, and the check that
every read model holds what its contracts allow."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django_events.projection import Projection, create_table, projections
from django_events.testing import deliver, make_event

from event_contracts import CATALOGUE
from read_models.limits import contract_overflows, unbounded_strings
from read_models.polls import PollViewProjection
from tests.pollapp import projections as poll_projections
from tests.pollapp.models import OwnerOnlyPollView, PollView, TooShortPollView

SCHEMAS = list(CATALOGUE.schemas())
LONGEST_QUESTION = "Q" * 300


def _created(poll_id: uuid.UUID, *, question: str = "Tea?", closes_at: datetime | None = None):
    data = {"poll_id": str(poll_id), "question": question, "owner_id": "alice", "status": "open",
            "closes_at": closes_at.isoformat() if closes_at else None, "created_at": "2026-11-24T00:00:00+00:00"}
    return make_event("poll.created", data)


@pytest.mark.parametrize(("event_type", "version", "schema"), SCHEMAS, ids=[f"{t}/v{v}" for t, v, _ in SCHEMAS])
def test_every_string_of_every_contract_states_its_limit(event_type, version, schema):
    assert list(unbounded_strings(schema)) == [], "give it the maxLength its producer accepts"


@pytest.mark.django_db
@pytest.mark.parametrize("projection", projections(), ids=lambda projection: projection.name)
def test_each_read_model_holds_the_largest_events_its_contracts_allow(projection):
    assert contract_overflows(projection, CATALOGUE) == []


@pytest.mark.django_db
def test_a_read_model_too_small_for_its_contract_is_found():
    class TooShortProjection(PollViewProjection):
        pass

    TooShortProjection.model = TooShortPollView  # set after the class, so the consumer never registers it
    create_table(TooShortPollView, "default")

    problems = contract_overflows(TooShortProjection(), CATALOGUE)
    assert [problem.split(": ", 1)[0] for problem in problems] == [
        f"TooShortProjection (pollapp_too_short_poll_view) on {event_type} v1" for event_type in ("poll.created", "poll.updated")
    ]
    assert all("too long" in problem for problem in problems), problems


@pytest.mark.django_db
def test_the_poll_read_model_keeps_what_its_model_declares():
    poll_id = uuid.uuid4()
    deliver(_created(poll_id, question=LONGEST_QUESTION))

    assert PollView.objects.get(pk=poll_id).question == LONGEST_QUESTION
    kept = OwnerOnlyPollView.objects.get(pk=poll_id)
    assert (kept.owner_id, kept.status, kept.closes_at) == ("alice", "open", None)

    deliver(make_event("poll.updated", {"poll_id": str(poll_id), "question": "Tea!", "status": "open",
                                        "closes_at": None}))
    assert PollView.objects.get(pk=poll_id).question == "Tea!"

    deliver(make_event("poll.deleted", {"poll_id": str(poll_id)}))
    assert not PollView.objects.filter(pk=poll_id).exists()
    assert not OwnerOnlyPollView.objects.filter(pk=poll_id).exists()


@pytest.mark.django_db
def test_a_closed_poll_closes_at_the_earlier_of_its_deadline_and_its_closing_and_calls_the_hook():
    poll_id, deadline = uuid.uuid4(), datetime(2026, 12, 1, tzinfo=UTC)
    deliver(_created(poll_id, closes_at=deadline))
    poll_projections.closed.clear()

    closed_at = deadline - timedelta(hours=1)
    deliver(make_event("poll.closed", {"poll_id": str(poll_id), "closed_at": closed_at.isoformat()}))

    poll = PollView.objects.get(pk=poll_id)
    assert (poll.status, poll.closes_at) == ("closed", closed_at)
    assert not poll.is_open_at(closed_at - timedelta(minutes=1))
    assert poll_projections.closed == [(poll_id, closed_at)]


@pytest.mark.django_db
def test_a_poll_not_known_here_closing_changes_nothing_and_calls_no_hook():
    poll_projections.closed.clear()

    deliver(make_event("poll.closed", {"poll_id": str(uuid.uuid4()), "closed_at": "2026-11-24T01:00:00+00:00"}))

    assert poll_projections.closed == []


def test_the_base_projection_is_not_a_subscriber_of_its_own():
    assert not any(type(p) is PollViewProjection for p in projections())
    assert issubclass(PollViewProjection, Projection)
