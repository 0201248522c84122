"""Isolation on the cluster, as an attacker inside it meets it: the NetworkPolicies are enforced (kube-router, see
deploy/README.md), so a pod outside the allowed set reaches neither PostgreSQL nor Kafka nor a service, and a
service's own database credentials open no other service's database. The platform's own traffic keeps working:
the full walk runs on the same cluster (test_platform_on_kubernetes.py)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import register_and_login
from tests.k8s.conftest import NAMESPACE, Platform, kubectl, probe_pods, reach, web_pod

OUTSIDE = f"{NAMESPACE}-outside"
POSTGRESQL = f"polls-postgresql.{NAMESPACE}.svc:5432"
KAFKA = f"polls-kafka.{NAMESPACE}.svc:9092"
VOTE_SERVICE = f"vote-service.{NAMESPACE}.svc:80"
POLLS_SERVICE = f"polls-service.{NAMESPACE}.svc:80"
AUTH_SERVICE = f"auth-service.{NAMESPACE}.svc:80"


@pytest.fixture(scope="module")
def probes(platform: Platform) -> Iterator[dict[str, tuple[str, str]]]:
    with probe_pods("probe", OUTSIDE) as pods:
        yield pods


def test_an_unlabelled_pod_reaches_neither_the_data_nor_the_services(probes: dict[str, tuple[str, str]]) -> None:
    reached = reach(*probes["unlabelled"], POSTGRESQL, KAFKA, VOTE_SERVICE, AUTH_SERVICE)
    assert not any(reached.values()), reached


def test_a_pod_with_the_gateways_labels_reaches_the_services_but_not_postgresql(
        probes: dict[str, tuple[str, str]]) -> None:
    reached = reach(*probes["gateway-labels"], POSTGRESQL, VOTE_SERVICE)
    # The service is reached: the policies are selective, not a blanket refusal of the probe.
    assert reached == {POSTGRESQL: False, VOTE_SERVICE: True}, reached


def test_a_pod_in_another_namespace_wearing_a_services_labels_reaches_neither_postgresql_nor_a_service(
        probes: dict[str, tuple[str, str]]) -> None:
    reached = reach(*probes["other-namespace"], POSTGRESQL, VOTE_SERVICE)
    assert not any(reached.values()), reached


def test_a_services_pod_reaches_its_data_and_the_jwks_but_not_another_service(platform: Platform) -> None:
    pod = web_pod("vote-service")
    reached = reach(pod, NAMESPACE, POSTGRESQL, KAFKA, AUTH_SERVICE, POLLS_SERVICE)
    assert reached == {POSTGRESQL: True, KAFKA: True, AUTH_SERVICE: True, POLLS_SERVICE: False}, reached


# Connects with the pod's own DATABASE_URL to its own database, then to each named one: "ok" or the refusal.
CONNECT = """
import json, os, sys
from urllib.parse import urlsplit, urlunsplit
import psycopg
own = urlsplit(os.environ["DATABASE_URL"])
result = {}
for database in [own.path.lstrip("/"), *sys.argv[1:]]:
    try:
        psycopg.connect(urlunsplit(own._replace(path="/" + database)), connect_timeout=5).close()
        result[database] = "ok"
    except psycopg.Error as error:
        result[database] = str(error).strip().splitlines()[0]
print(json.dumps(result))
"""


def test_a_services_credentials_open_its_own_database_and_no_other(platform: Platform) -> None:
    pod = web_pod("vote-service")
    others = ["polls_service", "choice_service", "auth_service", "postgres"]
    out = kubectl("exec", pod, "-c", "web", "--", "python", "-c", CONNECT, *others, timeout=120)
    result = json.loads(out.strip().splitlines()[-1])
    assert result.pop("vote_service") == "ok", result
    assert set(result) == set(others)
    assert all(answer != "ok" for answer in result.values()), result


def test_page_links_behind_the_clusters_gateway_carry_no_service_host(platform: Platform) -> None:
    """nginx sends each service its Service name as Host: no page link may carry it (or its http scheme)."""
    with platform.client() as client:
        owner = register_and_login(client, f"pages-{uuid.uuid4().hex[:8]}")
        for n in range(2):
            assert client.post("/api/polls/", json={"question": f"Page {n}?"}, headers=owner).status_code == 201
        body = client.get("/api/polls/?page_size=1").json()
        assert body["next"] and body["next"].startswith("/api/polls/?"), body
        assert client.get(body["next"]).status_code == 200
