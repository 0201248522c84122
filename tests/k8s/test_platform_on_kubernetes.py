"""The platform on a real cluster, through the gateway on 127.0.0.1: the full walk, one team's upgrade while votes
flow, deleted pods, the HPA under a viral poll, and every alert rule and dashboard query against the in-cluster
Prometheus. Run by `make test-k8s` after `make cluster-up images deploy`."""

from __future__ import annotations

import json
import os
import random
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
import yaml

import fleet
from tests.e2e.conftest import eventually, register_and_login
from tests.e2e.test_platform import test_register_poll_choices_vote_results_close  # noqa: F401 (the full walk)
from tests.k8s.conftest import NAMESPACE, SERVICES, Platform, kubectl, kubectl_json, releases, run, wait_until

ROOT = Path(__file__).resolve().parents[2]
OBSERVABILITY = ROOT / "deploy" / "observability"
STACK = "import sys, django; print('%d.%d' % sys.version_info[:2], django.get_version())"
# Under the gateway's 10 votes/s per client address, so every refusal would be a real failure.
VOTES_PER_SECOND = 5


def make_polls(client: httpx.Client, owner: dict[str, str], count: int) -> dict[int, int]:
    """poll id -> a choice id, once choice-service and vote-service have heard of both."""
    polls = {}
    for n in range(count):
        poll = client.post("/api/polls/", json={"question": f"Load {n}?"}, headers=owner)
        assert poll.status_code == 201, poll.text
        choice = eventually(
            lambda: client.post("/api/choices/", json={"poll_id": poll.json()["id"], "text": "yes"}, headers=owner),
            until=lambda r: r.status_code != 404, timeout=60)
        assert choice.status_code == 201, choice.text
        polls[poll.json()["id"]] = choice.json()["id"]
    return polls


def make_voters(client: httpx.Client, count: int) -> list[dict[str, str]]:
    suffix = uuid.uuid4().hex[:6]
    return [register_and_login(client, f"voter-{suffix}-{n}") for n in range(count)]


class VoteLoad(threading.Thread):
    """Each voter votes once on each poll, VOTES_PER_SECOND at most; records every answer."""

    def __init__(self, platform: Platform, polls: dict[int, int], voters: list[dict[str, str]]) -> None:
        super().__init__(daemon=True)
        self.platform, self.polls = platform, polls
        self.pending = [(poll, voter) for voter in voters for poll in polls]
        self.accepted: Counter[int] = Counter()
        self.failed: list[tuple[int, dict[str, str], str]] = []
        self.sent = 0
        self.halt = threading.Event()

    def run(self) -> None:
        with self.platform.client() as client:
            while self.pending and not self.halt.is_set():
                started = time.monotonic()
                poll, voter = self.pending.pop(0)
                self.vote(client, poll, voter)
                self.halt.wait(max(0.0, 1 / VOTES_PER_SECOND - (time.monotonic() - started)))

    def vote(self, client: httpx.Client, poll: int, voter: dict[str, str], retry: bool = False) -> None:
        self.sent += 1
        try:
            answer = client.post("/api/votes/", json={"poll_id": poll, "choice_id": self.polls[poll]}, headers=voter)
            status, detail = answer.status_code, answer.text[:200]
        except httpx.TransportError as error:
            status, detail = 0, repr(error)
        # A retried vote whose first answer was lost may already be in: 409 then means it was accepted.
        if status == 201 or (retry and status == 409):
            self.accepted[poll] += 1
        else:
            self.failed.append((poll, voter, f"{status} {detail}"))

    def finish(self, timeout: float = 600) -> None:
        self.join(timeout)
        assert not self.is_alive(), "the vote load did not finish"


def results_total(client: httpx.Client, poll: int) -> int:
    return int(client.get(f"/api/votes/results/{poll}/").json()["total"])


def assert_nothing_lost(client: httpx.Client, load: VoteLoad) -> None:
    """Every accepted vote is in vote-service's results and, through vote.cast, in polls-service's total_votes."""
    for poll in load.polls:
        assert results_total(client, poll) == load.accepted[poll], poll
        total = eventually(lambda: client.get(f"/api/polls/{poll}/"),
                           until=lambda r: r.json().get("total_votes") == load.accepted[poll], timeout=120)
        assert total.json()["total_votes"] == load.accepted[poll], poll


def web_pods(service: str) -> list[dict]:
    selector = f"app.kubernetes.io/instance={service},app.kubernetes.io/component=web"
    return kubectl_json("get", "pods", "-l", selector)["items"]


def test_the_gateway_serves_the_page(platform: Platform) -> None:
    with platform.client() as client:
        page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html"), page.text[:200]
    assert "<title>" in page.text


def test_helm_test_smoke_walk(platform: Platform) -> None:
    assert "Phase:          Succeeded" in run("helm", "test", "polls", "-n", NAMESPACE, "--timeout", "5m")


def test_each_services_pods_run_the_python_services_toml_names(platform: Platform) -> None:
    """vote-service's image is built on Python 3.13 (Debian trixie's) with Django 6.1, the others on 3.11 and 5.2."""
    stacks = {}
    for service in fleet.load():
        pod = web_pods(service.service_name)[0]["metadata"]["name"]
        stacks[service.service_name] = kubectl("exec", pod, "-c", "web", "--", "python", "-c", STACK, timeout=120).split()
        assert stacks[service.service_name][0] == service.python, stacks
    assert stacks.pop("vote-service")[1].startswith("6.1."), stacks
    assert all(django.startswith("5.2.") for _, django in stacks.values()), stacks


def test_each_release_tells_its_operator_where_it_is(platform: Platform) -> None:
    """NOTES.txt, as `helm install` printed it: the platform's gateway address, each service's upstream."""
    assert "export GATEWAY_URL=" in run("helm", "get", "notes", "polls", "-n", NAMESPACE)
    for service in SERVICES:
        notes = run("helm", "get", "notes", service, "-n", NAMESPACE)
        assert f"http://{service}.{NAMESPACE}.svc.cluster.local:80" in notes, notes


def test_a_missing_service_is_a_json_502_on_its_prefix_alone(platform: Platform) -> None:
    """nginx resolves each upstream per request: a service the gateway cannot find fails alone, at once, in JSON.
    Every answer on the way is the service's or the gateway's own (JSON): an answer from anyone else, such as
    the node's network answering for a ClusterIP that no endpoint stands behind, fails at once."""

    def choices(client: httpx.Client) -> httpx.Response:
        answer = client.get("/api/choices/?poll_id=1")
        assert answer.headers.get("content-type", "").startswith("application/json"), (
            answer.status_code, answer.headers, answer.text[:200])
        return answer

    with platform.client() as client:
        assert client.get("/api/polls/").status_code == 200
        assert choices(client).status_code == 400  # the service's own answer to a bad poll id
    kubectl("scale", "deployment/choice-service", "--replicas=0")
    try:
        with platform.client() as client:
            answer = wait_until(lambda: (r := choices(client)).status_code == 502 and r,
                                "choice-service's prefix to answer 502", timeout=120, interval=1)
            assert answer.json()["error"] == "bad_gateway"
            # And it stays so, not only while the node's rules settle (on the way, a 504: a connection to the
            # address of the pod that just went).
            statuses: list[int] = []
            settled = time.monotonic() + 10
            while time.monotonic() < settled:
                statuses.append(choices(client).status_code)
                time.sleep(1)
            assert set(statuses) <= {502, 504} and statuses[-1] == 502, statuses
            assert client.get("/api/polls/").status_code == 200
    finally:
        kubectl("scale", "deployment/choice-service", "--replicas=1")
        kubectl("rollout", "status", "deployment/choice-service", "--timeout=300s", timeout=320)


def test_one_team_upgrades_its_service_alone_while_votes_flow(platform: Platform) -> None:
    new_tag = os.environ.get("UPGRADE_TAG")
    if not new_tag:
        pytest.skip("UPGRADE_TAG (an image tag of vote-service that `make images` imported) is not set")
    with platform.client() as client:
        owner = register_and_login(client, f"owner-{uuid.uuid4().hex[:6]}")
        load = VoteLoad(platform, make_polls(client, owner, 10), make_voters(client, 60))
    before = releases()
    load.start()
    wait_until(lambda: load.sent >= 20, "the first votes")
    run("bash", str(ROOT / "deploy/platform/deploy.sh"), "service", "vote-service", env_extra={"TAG": new_tag})
    upgraded_at = load.sent
    wait_until(lambda: load.sent >= upgraded_at + 20 or not load.is_alive(), "votes after the upgrade")
    load.halt.set()
    load.finish()

    assert load.failed == [], f"{len(load.failed)} of {load.sent} votes failed: {load.failed[:5]}"
    assert upgraded_at >= 40  # votes flowed through the whole rollout
    after = releases()
    assert int(after["vote-service"]["revision"]) == int(before["vote-service"]["revision"]) + 1
    assert {name: r["revision"] for name, r in after.items() if name != "vote-service"} == {
        name: r["revision"] for name, r in before.items() if name != "vote-service"}
    # Old pods still draining (preStop) are on their way out: wait for the new image alone.
    wait_until(lambda: {c["image"].removeprefix("docker.io/") for pod in web_pods("vote-service")
                        for c in pod["spec"]["containers"]} == {f"polls/vote-service:{new_tag}"},
               "only the new image's web pods", timeout=120)
    with platform.client() as client:
        assert_nothing_lost(client, load)


def test_deleted_web_and_consumer_pods_come_back_with_nothing_lost(platform: Platform) -> None:
    with platform.client() as client:
        owner = register_and_login(client, f"owner-{uuid.uuid4().hex[:6]}")
        load = VoteLoad(platform, make_polls(client, owner, 4), make_voters(client, 30))
    load.start()
    wait_until(lambda: load.sent >= 15, "the first votes")
    kubectl("delete", "pod", "--wait=false", "-l", "app.kubernetes.io/instance=vote-service,app.kubernetes.io/component=web")
    kubectl("delete", "pod", "--wait=false",
            "-l", "app.kubernetes.io/instance=polls-service,app.kubernetes.io/component=consumer")
    load.finish()
    for deployment in ("vote-service", "polls-service-consumer"):
        kubectl("rollout", "status", f"deployment/{deployment}", "--timeout=300s", timeout=320)
    with platform.client() as client:
        # A vote refused while the only web pod was replaced is the client's to retry; none may be lost.
        for poll, voter, _ in load.failed:
            load.vote(client, poll, voter, retry=True)
        assert sum(load.accepted.values()) == 4 * 30, load.failed[-5:]
        assert_nothing_lost(client, load)


def test_a_viral_poll_scales_vote_service_alone(platform: Platform) -> None:
    try:
        kubectl("get", "--raw", f"/apis/metrics.k8s.io/v1beta1/namespaces/{NAMESPACE}/pods", timeout=30)
    except AssertionError:
        pytest.skip("metrics-server does not answer: no HPA without it")
    with platform.client() as client:
        owner = register_and_login(client, f"owner-{uuid.uuid4().hex[:6]}")
        [poll] = make_polls(client, owner, 1)
    halt = threading.Event()

    def read_results() -> None:
        # Readers from many addresses, through the node as the trusted proxy (dev-platform-values.yaml): one
        # address's reads are limited at the gateway, a viral poll's are not.
        with platform.client() as client:
            while not halt.is_set():
                reader = f"203.0.113.{random.randrange(1, 255)}"
                client.get(f"/api/votes/results/{poll}/", headers={"X-Forwarded-For": reader})

    readers = [threading.Thread(target=read_results, daemon=True) for _ in range(6)]
    for reader in readers:
        reader.start()
    try:
        wait_until(lambda: kubectl_json("get", "hpa", "vote-service")["status"].get("desiredReplicas", 1) > 1,
                   "vote-service's HPA to scale up", timeout=420, interval=5)
    finally:
        halt.set()
    assert kubectl_json("get", "deployment", "polls-service")["spec"]["replicas"] == 1
    assert "polls-service" not in kubectl("get", "hpa", "-o", "name")


def prometheus(path: str) -> dict:
    answer = json.loads(kubectl("get", "--raw", f"/api/v1/namespaces/{NAMESPACE}/services/polls-prometheus:http/proxy{path}"))
    assert answer["status"] == "success", answer
    return answer["data"]


def query(expr: str) -> list:
    return prometheus(f"/api/v1/query?query={quote(expr)}")["result"]


def test_prometheus_scrapes_every_pod_and_evaluates_every_rule_and_panel(platform: Platform) -> None:
    # The charts' labels reach Prometheus: RelayDown's `up{component="relay"}` has each service.
    relays = wait_until(lambda: {s["metric"].get("service") for s in query('up{component="relay"} == 1')} >= set(SERVICES),
                        "every relay scraped", timeout=180, interval=5)
    assert relays
    wait_until(lambda: query('up{service="gateway"} == 1'), "the gateway's exporter scraped", timeout=120, interval=5)
    # Counters that never moved are there, at 0, so a healthy system shows 0 rather than "No data": every relay's
    # failures, every consumer's retries and dead letters (per event type); and nothing was dead-lettered.
    assert {s["metric"]["service"] for s in query("django_events_relay_failed_total")} >= set(SERVICES)
    # A consumer pod an earlier test replaced is scraped once Prometheus has found it.
    consumers = wait_until(
        lambda: (up := {s["metric"]["service"] for s in query('up{component="consumer"} == 1')})
        >= set(SERVICES) - {"auth-service"} and up,
        "every consumer scraped", timeout=180, interval=5)
    assert {s["metric"]["service"] for s in query("django_events_consumer_retried_total")} >= consumers
    dead_lettered = query("django_events_consumer_dead_lettered_total")
    assert {s["metric"]["service"] for s in dead_lettered} >= consumers
    assert all(float(s["value"][1]) == 0 for s in dead_lettered), dead_lettered

    rules = [r for g in yaml.safe_load((OBSERVABILITY / "rules.yml").read_text())["groups"] for r in g["rules"]]
    for rule in rules:
        query(rule["expr"])
    def evaluated() -> list[dict]:
        loaded = [r for g in prometheus("/api/v1/rules")["groups"] for r in g["rules"]]
        return loaded if all(r["health"] != "unknown" for r in loaded) else []

    loaded = wait_until(evaluated, "every rule evaluated once", timeout=120, interval=5)
    assert {r["name"] for r in loaded} == {r["alert"] for r in rules}
    assert all(r["health"] == "ok" for r in loaded), [r for r in loaded if r["health"] != "ok"]

    # Every panel shows a value on a healthy platform, none "No data" (a 5xx ratio with no 5xx is 0).
    dashboard = json.loads((OBSERVABILITY / "grafana/dashboards/platform.json").read_text())
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"].replace("$service", ".*").replace("$__rate_interval", "2m")
            wait_until(lambda expr=expr: query(expr), f"a value for panel {panel['title']!r}: {expr}", timeout=180, interval=10)
    assert query("sum(rate(http_requests_total[5m]))")  # the walk's requests are there
