"""The client behind a trusted proxy: the right-most X-Forwarded-For address that is not a trusted proxy, for the
rate limits, the headers sent on and the log, in both gateways; anyone else's X-Forwarded-For changes nothing."""

from __future__ import annotations

import ipaddress
import json
import threading
import time

import pytest

from gateway import edge
from gateway.table import load, trusted_proxies_of
from tests.conftest import Gateway, counted_method, covered_paths, most_admitted
from tests.test_attacks import PARALLEL, Answer, parallel, send

LIMIT = load().rate_limits[0]
PROXY = "127.0.7.1"  # within conftest.TRUSTED_PROXIES


def _seen(gateway: Gateway, forwarded_for: str, source: str = PROXY) -> dict[str, str]:
    answer = send(gateway, "GET", "/api/polls/", source=source, headers={"X-Forwarded-For": forwarded_for})
    return dict(json.loads(answer.body)["headers"])


@pytest.mark.parametrize(("forwarded_for", "client"), [
    ("198.51.100.4", "198.51.100.4"),
    # What the client wrote itself, to the left of what the proxy added, is never believed.
    ("203.0.113.9, 198.51.100.4", "198.51.100.4"),
    # A chain of trusted proxies is walked through.
    ("198.51.100.4, 127.0.7.9", "198.51.100.4"),
    ("2001:db8::7", "2001:db8::7"),
])
def test_a_trusted_proxys_client_is_the_one_it_names(gateway: Gateway, forwarded_for: str, client: str) -> None:
    seen = _seen(gateway, forwarded_for)
    assert seen["x-forwarded-for"] == client
    assert seen["x-real-ip"] == client


def test_anyone_elses_x_forwarded_for_is_ignored(gateway: Gateway) -> None:
    assert _seen(gateway, "198.51.100.4", source="127.0.3.9")["x-forwarded-for"] == "127.0.3.9"


def test_two_clients_behind_one_proxy_have_a_bucket_each(gateway: Gateway) -> None:
    together = threading.Barrier(PARALLEL)

    def one(number: int) -> Answer:
        # Most of the crowd is one client; the last eight another one.
        forwarded_for = "198.51.100.20" if number < PARALLEL - 8 else "198.51.100.21"
        together.wait()
        return send(gateway, counted_method(LIMIT), covered_paths(LIMIT)[0], source=PROXY,
                    headers={"X-Forwarded-For": forwarded_for})

    started = time.monotonic()
    answers = parallel(one)
    first, second = [a.status for a in answers[:-8]], [a.status for a in answers[-8:]]
    assert first.count(200) <= most_admitted(LIMIT, started), first
    assert second == [200] * 8, second


def test_the_access_log_names_the_real_client(gateway: Gateway) -> None:
    _seen(gateway, "198.51.100.33")
    deadline = time.monotonic() + 5
    while not any('"198.51.100.33"' in line for line in gateway.access_log_lines()):
        assert time.monotonic() < deadline, gateway.access_log_lines()[-3:]
        time.sleep(0.1)


def test_the_walk_is_nginxs() -> None:
    trusted = [ipaddress.ip_network("10.0.0.0/8")]
    assert edge.client_address("10.1.1.1", "203.0.113.1, 198.51.100.1", trusted) == "198.51.100.1"
    assert edge.client_address("10.1.1.1", "198.51.100.1, 10.2.2.2, 10.3.3.3", trusted) == "198.51.100.1"
    # Every hop trusted: the left-most one.
    assert edge.client_address("10.1.1.1", "10.2.2.2, 10.3.3.3", trusted) == "10.2.2.2"
    # Garbage ends the walk at the last address that parsed.
    assert edge.client_address("10.1.1.1", "198.51.100.1, junk", trusted) == "10.1.1.1"
    assert edge.client_address("10.1.1.1", "junk, 10.2.2.2", trusted) == "10.2.2.2"
    assert edge.client_address("192.0.2.1", "198.51.100.1", trusted) == "192.0.2.1"
    assert edge.client_address("10.1.1.1", None, trusted) == "10.1.1.1"
    assert edge.client_address("10.1.1.1", "198.51.100.1", []) == "10.1.1.1"


@pytest.mark.parametrize("value", ["0.0.0.0/0", "::/0", "10.0.0.1/8", "nobody"])
def test_trusting_everyone_or_nonsense_is_refused(value: str) -> None:
    with pytest.raises(ValueError):
        trusted_proxies_of([], {"GATEWAY_TRUSTED_PROXIES": value})
    assert trusted_proxies_of(["10.0.0.0/8"], {}) == (ipaddress.ip_network("10.0.0.0/8"),)
    assert trusted_proxies_of(["10.0.0.0/8"], {"GATEWAY_TRUSTED_PROXIES": ""}) == ()
