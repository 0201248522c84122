"""The routing table, its overrides and checks, and the rate limiter's arithmetic (nginx's, step by step)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

import fleet
from gateway.nginx import quote, render
from gateway.ratelimit import InFlight, LeakyBucket
from gateway.table import ConnectionLimit, RateLimit, load, resource


def test_the_table_routes_the_services_on_their_development_ports() -> None:
    table = load(environ={})
    assert {route.prefix: route.upstream for route in table.routes}.items() >= {
        "/api/auth/": "http://127.0.0.1:8001",
        "/api/polls/": "http://127.0.0.1:8002",
        "/api/choices/": "http://127.0.0.1:8003",
        "/api/votes/": "http://127.0.0.1:8004",
    }.items()
    assert table.route_for("/api/pollsx/") is None
    discovery = table.route_for("/.well-known/openid-configuration")
    assert discovery is not None and discovery.service == "auth-service"
    assert table.route_for("/.well-known/openid-configurationx") is None


def test_the_environment_overrides_upstreams_and_the_read_timeout() -> None:
    table = load(environ={"VOTE_SERVICE_URL": "http://vote-service", "GATEWAY_READ_TIMEOUT_SECONDS": "3"})
    vote = table.route_for("/api/votes/")
    assert vote is not None and vote.upstream_host_port == "vote-service:80"
    assert table.read_timeout == 3


@pytest.mark.parametrize(("table", "old", "new", "complaint"), [
    ("services.toml", 'prefix = "/api/auth/"', 'prefix = "/api/auth"', "must start and end with '/'"),
    ("services.toml", "port = 8001", 'port = "8001/x"', "service 'auth': port '8001/x' must be a number"),
    ("routes.toml", 'paths = ["/api/auth/token/"]', 'paths = ["/nowhere/"]', "which no route serves"),
    ("routes.toml", 'paths = ["/api/auth/token/"]', 'path = "/api/auth/token/"', "spelled `paths"),
    ("services.toml", 'paths = ["/.well-known/openid-configuration"]', 'paths = ["/api/polls/x"]', "no other route"),
    ("services.toml", 'paths = ["/.well-known/openid-configuration"]', 'paths = ["/$x"]', "plain /path"),
])
def test_a_broken_table_is_refused(tmp_path: Path, table: str, old: str, new: str, complaint: str) -> None:
    for name in ("routes.toml", "services.toml"):
        text = (fleet.LIST if name == "services.toml" else resource(name)).read_text()
        (tmp_path / name).write_text(text.replace(old, new, 1) if name == table else text)
    with pytest.raises(ValueError, match=complaint):
        load(tmp_path / "routes.toml", environ={}, services=tmp_path / "services.toml")


def test_every_service_of_the_list_has_a_route() -> None:
    listed = fleet.load()
    routes = {route.service: route for route in load(environ={}).routes}
    assert set(routes) == {service.service_name for service in listed}
    assert all(routes[service.service_name].prefix == service.prefix for service in listed)


def test_the_production_config_listens_where_the_helm_chart_expects() -> None:
    config = render(load(environ={"AUTH_SERVICE_URL": "http://auth-service"}))
    assert "listen 8080;" in config and "server auth-service:80;" in config
    assert "daemon" not in config  # it is a conf.d file, included in the image's own nginx.conf


def test_nginx_strings_refuse_what_nginx_would_expand() -> None:
    assert quote("it's") == r"'it\'s'"
    with pytest.raises(ValueError):
        quote("costs $5")


def test_the_bucket_admits_a_burst_then_one_request_per_interval() -> None:
    now = [0.0]
    bucket = LeakyBucket(RateLimit(name="t", paths=("/p/",), methods=("POST",), rate=10, burst=20), clock=lambda: now[0])
    assert [bucket.admit("a") for _ in range(22)] == [True] * 21 + [False]
    assert bucket.admit("b")  # each client has its own bucket
    now[0] += 0.1
    assert bucket.admit("a") and not bucket.admit("a")
    now[0] += 10  # fully drained: as good as new
    assert [bucket.admit("a") for _ in range(22)] == [True] * 21 + [False]


def test_rate_limits_off_lifts_every_limit_and_a_typo_is_refused() -> None:
    assert load(environ={}).rate_limits
    assert load(environ={"RATE_LIMITS": "off"}).rate_limits == ()
    with pytest.raises(ValueError, match="RATE_LIMITS"):
        load(environ={"RATE_LIMITS": "no"})


def test_the_awaiting_paths_are_limited_in_flight_and_their_reads_in_rate_lifted_with_the_rest() -> None:
    table = load(environ={})
    for method in ("GET", "POST"):
        assert table.connection_limit_for(method, "/api/votes/results/abc/") is not None
        assert table.connection_limit_for(method, "/api/choices/") is not None
    assert table.connection_limit_for("GET", "/api/choices/abc/") is None
    assert table.connection_limit_for("GET", "/api/polls/") is None
    reads = table.rate_limit_for("GET", "/api/choices/")
    assert reads is not None and table.rate_limit_for("HEAD", "/api/votes/results/abc/") is reads
    assert table.rate_limit_for("POST", "/api/choices/") is None and table.rate_limit_for("GET", "/api/choices/a/") is None
    assert load(environ={"RATE_LIMITS": "off"}).connection_limits == ()
    assert table.without_limits().connection_limits == () and table.without_limits().rate_limits == ()
    config = render(table)
    assert "limit_conn_zone $binary_remote_addr zone=awaiting:10m;" in config and "limit_conn_status 429;" in config
    assert f"limit_req_zone $limit_reads_key zone=reads:10m rate={reads.rate}r/s;" in config
    # Both limits in each location, which is the one nginx picks for these paths (an exact match, the longest
    # prefix), and the routes' own locations stay unlimited.
    both = f"limit_req zone=reads burst={reads.burst} nodelay; limit_conn awaiting 8; proxy_pass"
    assert f"location = /api/choices/ {{ if ($edge_refused) {{ return 400; }} {both}" in config
    assert f"location /api/votes/results/ {{ if ($edge_refused) {{ return 400; }} {both}" in config
    assert "location /api/choices/ { if ($edge_refused) { return 400; } proxy_pass" in config


def test_a_location_carries_every_limit_covering_it() -> None:
    """A limit on a prefix reaches the longer prefixes and exact paths under it, which nginx picks instead."""
    wide = ConnectionLimit(name="wide", prefixes=("/api/votes/results/",), connections=2)
    narrow = RateLimit(name="narrow", prefixes=("/api/votes/results/x/",), paths=("/api/votes/results/y/",),
                       methods=("GET",), rate=1, burst=0)
    table = replace(load(environ={}), rate_limits=(narrow,), connection_limits=(wide,))
    config = render(table)
    for match in ("/api/votes/results/x/", "= /api/votes/results/y/"):
        assert f"location {match} {{ if ($edge_refused) {{ return 400; }} limit_req zone=narrow burst=0 nodelay; " \
               "limit_conn wide 2; proxy_pass" in config
    assert "location /api/votes/results/ { if ($edge_refused) { return 400; } limit_conn wide 2; proxy_pass" in config


def test_a_limit_on_a_routes_exact_path_replaces_its_location() -> None:
    limit = RateLimit(name="discovery", paths=("/.well-known/openid-configuration",), rate=1, burst=0)
    config = render(replace(load(environ={}), rate_limits=(limit,)))
    assert config.count("location = /.well-known/openid-configuration ") == 1
    assert "limit_req_zone $binary_remote_addr zone=discovery:10m rate=1r/s;" in config


@pytest.mark.parametrize(("old", "new", "complaint"), [
    ('prefixes = ["/api/votes/results/"]\nconnections', 'prefixes = ["/nowhere/"]\nconnections', "which no route serves"),
    ('prefixes = ["/api/votes/results/"]\nconnections', 'prefixes = ["/api/votes/"]\nconnections',
     "its route's own prefix"),
    ("connections = 8", "connections = 0", "connections must be >= 1"),
    ('prefixes = ["/api/votes/results/", "/api/votes/live/"]\nmethods = ["GET", "HEAD"]',
     'prefixes = ["/api/votes/"]\nmethods = ["GET", "HEAD"]', "its route's own prefix"),
    ("read_timeout_seconds = 60", "read_timeout_seconds = 0", "must be > 0"),
    ('prefixes = ["/api/votes/live/"]\nread_timeout', 'prefixes = ["/api/votes/live/"]\nmethods = ["GET"]\nread_timeout',
     "every method is streamed"),
    ('prefixes = ["/api/votes/live/"]\nread_timeout', 'prefixes = ["/nowhere/"]\nread_timeout', "which no route serves"),
    ('paths = ["/api/votes/"]\nmethods = ["POST"]', 'paths = ["/api/votes/results/x/"]\nmethods = ["GET"]',
     "cover the same requests"),
    ('name = "reads"', 'name = "awaiting"', "share a name"),
    ('name = "reads"', 'name = "read-s"', "lower-case letters"),
    ('methods = ["GET", "HEAD"]', 'methods = ["get"]', "upper-case"),
])
def test_a_broken_limit_is_refused(tmp_path: Path, old: str, new: str, complaint: str) -> None:
    text = resource("routes.toml").read_text()
    assert old in text
    (tmp_path / "routes.toml").write_text(text.replace(old, new, 1))
    with pytest.raises(ValueError, match=complaint):
        load(tmp_path / "routes.toml", environ={})


def test_a_stream_route_is_unbuffered_uncached_patient_and_keeps_the_limits_covering_it() -> None:
    table = load(environ={})
    [stream] = table.streams
    assert table.stream_for("/api/votes/live/abc/") is stream and table.stream_for("/api/votes/results/abc/") is None
    assert table.without_limits().streams == table.streams  # a benchmark's gateway streams as production's does
    reads, live = table.rate_limit_for("GET", "/api/votes/live/abc/"), table.connection_limit_for("GET", "/api/votes/live/abc/")
    assert reads is not None and live is not None
    assert (f"location /api/votes/live/ {{ if ($edge_refused) {{ return 400; }} limit_req zone=reads burst={reads.burst} "
            f"nodelay; limit_conn live {live.connections}; proxy_buffering off; proxy_cache off; "
            f"proxy_read_timeout {int(stream.read_timeout * 1000)}ms; proxy_pass") in render(table)


def test_in_flight_counts_each_clients_requests_until_they_end() -> None:
    counter = InFlight(ConnectionLimit(name="c", paths=("/p/",), connections=2))
    assert [counter.enter("a") for _ in range(3)] == [True, True, False]
    assert counter.enter("b")
    counter.leave("a")
    assert counter.enter("a") and not counter.enter("a")
    for _ in range(2):
        counter.leave("a")
    counter.leave("b")
    assert counter._count == {}
