import pytest
from django.core.checks import run_checks


def ids(errors):
    return sorted(e.id for e in errors if e.id.startswith("django_events"))


def test_good_settings_pass():
    assert ids(run_checks()) == []


@pytest.mark.parametrize(
    "value, expected",
    [
        ({"SERVICE": "x", "RELAY_BATCHSIZE": 10}, ["django_events.E002"]),
        ({}, ["django_events.E003"]),
        ({"SERVICE": "x", "RELAY_BATCH_SIZE": 0}, ["django_events.E004"]),
        ({"SERVICE": "x", "RETRIES": -1}, ["django_events.E004"]),
        ({"SERVICE": "x", "READ_MODEL_WAITERS": -1}, ["django_events.E004"]),
        ({"SERVICE": "x", "READ_MODEL_WAITERS": 2.5}, ["django_events.E004"]),
        ({"SERVICE": "x", "READ_MODEL_WAIT": -1}, ["django_events.E004"]),
        ({"SERVICE": "x", "READ_MODEL_WAITERS": 0}, []),
        ({"SERVICE": "x", "PRODUCER": "acks=all"}, ["django_events.E005"]),
        ({"SERVICE": "x", "CLIENT": "security.protocol=SSL"}, ["django_events.E005"]),
        ({"SERVICE": "x", "DATABASE": "elsewhere"}, ["django_events.E006"]),
        ("not a dict", ["django_events.E001"]),
    ],
)
def test_bad_settings_are_reported_with_clear_ids(settings, value, expected):
    settings.DJANGO_EVENTS = value
    assert ids(run_checks()) == expected
