"""wait_for_read_model: a bounded wait for a row another service created a moment ago."""

from collections.abc import Iterator

from django_events import wait_for_read_model


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
