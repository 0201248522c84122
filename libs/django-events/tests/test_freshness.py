"""wait_for_read_model: a bounded wait for a row another service created a moment ago, by a bounded number of
requests at once (on PostgreSQL: the waiting threads see the test's commits)."""

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from pytest_django import Settings

from django_events import wait_for_read_model
from django_events.freshness import waiting_now
from tests.conftest import wait_until
from tests.testapp.models import NoteView


def test_it_reads_until_the_row_is_there():
    answers = iter([None, None, "poll"])

    assert wait_for_read_model(lambda: next(answers), timeout=60) == "poll"


def test_ready_says_when_a_row_is_complete_enough():
    answers: Iterator[dict[str, str | None]] = iter([{"choice": None}, {"choice": "yes"}])

    found = wait_for_read_model(lambda: next(answers), ready=lambda row: row["choice"] is not None, timeout=60)

    assert found == {"choice": "yes"}


def test_once_the_bound_is_over_it_answers_what_it_last_read():
    assert wait_for_read_model(lambda: None, timeout=0) is None
    assert wait_for_read_model(lambda: {"choice": None}, ready=lambda row: False, timeout=0) == {"choice": None}


def note_view(note_id: str) -> NoteView | None:
    try:
        return NoteView.objects.filter(pk=note_id).first()
    finally:
        connection.close()  # each waiting thread has a connection of its own


@pytest.fixture
def two_waiters(settings: Settings) -> None:
    settings.DJANGO_EVENTS = {**settings.DJANGO_EVENTS, "READ_MODEL_WAITERS": 2}


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("two_waiters")
def test_past_the_cap_a_request_answers_at_once_with_what_it_read():
    with ThreadPoolExecutor(2) as pool:
        waiting = [pool.submit(wait_for_read_model, lambda: note_view("awaited"), timeout=120) for _ in range(2)]
        wait_until(lambda: waiting_now() == 2, "two requests waiting")

        # A third waits for nothing: it reads once (a row that is there is still found) and answers.
        assert wait_for_read_model(lambda: note_view("unknown"), timeout=120) is None
        NoteView.objects.create(id="known", text="there")
        assert wait_for_read_model(lambda: note_view("known"), timeout=120) == NoteView(id="known", text="there")
        assert waiting_now() == 2 and not any(future.done() for future in waiting)

        NoteView.objects.create(id="awaited", text="committed by the consumer")
        found = [future.result(timeout=60) for future in waiting]
        assert [view.text if view else None for view in found] == ["committed by the consumer"] * 2
    assert waiting_now() == 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("two_waiters")
def test_a_place_is_given_back_when_the_wait_ends_however_it_ends():
    def failing_read() -> None:
        raise RuntimeError("the database went away")

    with ThreadPoolExecutor(2) as pool:
        # One place ends with its bound, one with an exception; both are free again afterwards.
        bounded = pool.submit(wait_for_read_model, lambda: note_view("never"), timeout=0.3)
        failing = pool.submit(wait_for_read_model, _fails_on_second(failing_read), timeout=120)
        assert bounded.result(timeout=60) is None
        with pytest.raises(RuntimeError):
            failing.result(timeout=60)
    assert waiting_now() == 0
    NoteView.objects.create(id="later", text="x")
    with ThreadPoolExecutor(2) as pool:
        later = [pool.submit(wait_for_read_model, lambda: note_view("later"), timeout=120) for _ in range(2)]
        assert [future.result(timeout=60) for future in later] == [NoteView(id="later")] * 2


def _fails_on_second(fail: Callable[[], None]) -> Callable[[], None]:
    calls = iter([lambda: None, fail])
    return lambda: next(calls)()


@pytest.mark.django_db(transaction=True)
def test_no_waiters_allowed_means_nobody_waits(settings: Settings):
    settings.DJANGO_EVENTS = {**settings.DJANGO_EVENTS, "READ_MODEL_WAITERS": 0}

    assert wait_for_read_model(lambda: note_view("unknown"), timeout=120) is None
    assert waiting_now() == 0
