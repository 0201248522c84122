"""The rate limit store: counts shared through the database, a sliding window, IPv6 clients by /64, and a store
that fails lets the request through instead of a 500."""

from __future__ import annotations

from unittest import mock

import pytest
from django.db import DatabaseError
from django.urls import reverse

from service_kit import ratelimit
from service_kit.models import RateCounter
from service_kit.throttling import address_key

pytestmark = pytest.mark.django_db

T0 = 1_800_000_000.0  # the start of a 60-second window


@pytest.mark.parametrize(("address", "key"), [
    ("203.0.113.7", "203.0.113.7"),
    ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
    ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
    ("2001:db8:1:3::1", "2001:db8:1:3::/64"),
    ("::ffff:203.0.113.7", "203.0.113.7"),
    ("not-an-address", "not-an-address"),
])
def test_an_ipv6_client_is_counted_by_its_64_and_ipv4_by_its_address(address, key):
    assert address_key(address) == key


def test_the_limit_admits_its_requests_then_refuses_with_the_wait():
    verdicts = [ratelimit.hit("k", limit=3, window=60, now=T0 + 10) for _ in range(4)]
    assert [v.allowed for v in verdicts] == [True, True, True, False]
    # This window's 4 weigh on the next one until enough of it has passed: 50 s left here, then a quarter.
    assert verdicts[-1].wait == pytest.approx(50 + 60 * (1 - 2 / 4))
    assert RateCounter.objects.get(key="k").count == 4


def test_the_previous_window_weighs_by_what_is_left_of_it():
    for _ in range(3):
        ratelimit.hit("k", limit=3, window=60, now=T0 + 50)
    # 20 s into the next window the previous 3 weigh 3 * 2/3 = 2: one more fits, not two.
    assert ratelimit.hit("k", limit=3, window=60, now=T0 + 80).allowed
    refused = ratelimit.hit("k", limit=3, window=60, now=T0 + 80)
    assert not refused.allowed and refused.wait > 0
    # A window later the old counts are gone.
    assert ratelimit.hit("k", limit=3, window=60, now=T0 + 185).allowed


def test_keys_count_apart():
    for _ in range(3):
        ratelimit.hit("a", limit=3, window=60, now=T0)
    assert not ratelimit.hit("a", limit=3, window=60, now=T0).allowed
    assert ratelimit.hit("b", limit=3, window=60, now=T0).allowed


def test_a_failing_store_lets_the_request_through(api_client):
    with mock.patch.object(ratelimit, "hit", side_effect=DatabaseError("the database is gone")):
        for _ in range(5):
            assert api_client.get(reverse("tight")).status_code == 200


def test_clients_behind_one_ipv6_64_share_a_bucket(api_client):
    for suffix in ("1", "2"):
        assert api_client.get(reverse("tight"), REMOTE_ADDR=f"2001:db8:7:7::{suffix}").status_code == 200
    assert api_client.get(reverse("tight"), REMOTE_ADDR="2001:db8:7:7::3").status_code == 429
    assert api_client.get(reverse("tight"), REMOTE_ADDR="2001:db8:7:8::1").status_code == 200


def test_a_client_cannot_pick_its_bucket_with_x_forwarded_for(api_client):
    # REMOTE_ADDR is what uvicorn decided; the header itself is never read again.
    for number in range(2):
        assert api_client.get(reverse("tight"), HTTP_X_FORWARDED_FOR=f"198.51.100.{number}").status_code == 200
    assert api_client.get(reverse("tight"), HTTP_X_FORWARDED_FOR="198.51.100.9").status_code == 429


def test_limits_counted_together_are_counted_each_as_alone():
    limits = [ratelimit.Limit("burst", 3, 60), ratelimit.Limit("day", 5, 86400)]
    verdicts = [ratelimit.hit_all(limits, now=T0 + 10) for _ in range(4)]

    assert [[v.allowed for v in pair] for pair in verdicts] == [[True, True]] * 3 + [[False, True]]
    assert verdicts[-1][0].wait == pytest.approx(50 + 60 * (1 - 2 / 4))  # as hit() alone says it
    assert dict(RateCounter.objects.values_list("key", "count")) == {"burst": 4, "day": 4}


@pytest.fixture
def together(monkeypatch):
    """The tight view throttled by CallerRateThrottles (the kit's default), with burst and sustained rates."""
    from rest_framework.throttling import SimpleRateThrottle

    from service_kit.throttling import CallerRateThrottles
    from tests.views import TightlyThrottledApi

    monkeypatch.setattr(TightlyThrottledApi, "throttle_classes", [CallerRateThrottles])
    monkeypatch.setitem(SimpleRateThrottle.THROTTLE_RATES, "burst", "5/min")
    monkeypatch.setitem(SimpleRateThrottle.THROTTLE_RATES, "sustained", "1000/day")


def test_limits_together_refuse_on_the_tightest_and_count_every_scope(api_client, together):
    for _ in range(2):
        assert api_client.get(reverse("tight")).status_code == 200
    refused = api_client.get(reverse("tight"))

    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    counts = dict(RateCounter.objects.values_list("key", "count"))
    assert {key.split("_")[1]: count for key, count in counts.items()} == {"burst": 3, "sustained": 3, "tight": 3}


def test_limits_together_are_one_statement_per_request(api_client, together):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        assert api_client.get(reverse("tight")).status_code == 200

    assert [q["sql"].split()[0] for q in queries.captured_queries if "service_kit_rate" in q["sql"]] == ["INSERT"]


def test_limits_together_let_the_request_through_when_their_store_fails(api_client, together):
    with mock.patch.object(ratelimit, "hit_all", side_effect=DatabaseError("the database is gone")):
        for _ in range(5):
            assert api_client.get(reverse("tight")).status_code == 200
