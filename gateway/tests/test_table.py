"""The routing table, its overrides and checks, and the rate limiter's arithmetic (nginx's, step by step)."""

from __future__ import annotations

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
    ("routes.toml", 'path = "/api/auth/token/"', 'path = "/nowhere/"', "which no route serves"),
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
    bucket = LeakyBucket(RateLimit("t", "/p/", ("POST",), rate=10, burst=20), clock=lambda: now[0])
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


def test_connection_limits_cover_the_awaiting_paths_and_are_lifted_with_the_rate_limits() -> None:
    table = load(environ={})
    assert table.connection_limit_for("/api/votes/results/abc/") is not None
    assert table.connection_limit_for("/api/choices/") is not None
    assert table.connection_limit_for("/api/choices/abc/") is None and table.connection_limit_for("/api/polls/") is None
    assert load(environ={"RATE_LIMITS": "off"}).connection_limits == ()
    assert table.without_limits().connection_limits == () and table.without_limits().rate_limits == ()
    config = render(table)
    assert "limit_conn_zone $binary_remote_addr zone=awaiting:10m;" in config and "limit_conn_status 429;" in config
    assert "location /api/votes/results/ { if ($edge_refused) { return 400; } limit_conn awaiting 8; " in config


@pytest.mark.parametrize(("old", "new", "complaint"), [
    ('prefixes = ["/api/votes/results/"]', 'prefixes = ["/nowhere/"]', "which no route serves"),
    ('prefixes = ["/api/votes/results/"]', 'prefixes = ["/api/votes/"]', "its route's own prefix"),
    ("connections = 8", "connections = 0", "connections must be >= 1"),
])
def test_a_broken_connection_limit_is_refused(tmp_path: Path, old: str, new: str, complaint: str) -> None:
    (tmp_path / "routes.toml").write_text(resource("routes.toml").read_text().replace(old, new, 1))
    with pytest.raises(ValueError, match=complaint):
        load(tmp_path / "routes.toml", environ={})


def test_in_flight_counts_each_clients_requests_until_they_end() -> None:
    counter = InFlight(ConnectionLimit("c", ("/p/",), (), connections=2))
    assert [counter.enter("a") for _ in range(3)] == [True, True, False]
    assert counter.enter("b")
    counter.leave("a")
    assert counter.enter("a") and not counter.enter("a")
    for _ in range(2):
        counter.leave("a")
    counter.leave("b")
    assert counter._count == {}
