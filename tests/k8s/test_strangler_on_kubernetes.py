"""Step 4 of the votes seam's strangler path (docs/migration.md) on the cluster: the monolith's chart installed beside
the platform as the single-codebase step deploys it (a web Deployment per seam, on its settings module), a gateway
whose routes send polls, choices and votes each to its seam's, then a `helm upgrade` of that gateway
moving /api/votes/ to vote-service and a `helm rollback` bringing it back, under a steady load of reads and votes
(real users with tokens, each vote with an Idempotency-Key its retries keep). No request fails, and the monolith
and vote-service each hold exactly the votes the clients were answered 201 for.

Its own gateway release (`migration`, node port 30081) leaves the platform's gateway and its routes as they were;
vote-service runs with MIGRATING_FROM=monolith from here on, as during a real migration: the tests after
it (the trace's) allow for it, and the cluster goes after the tier.
"""

from __future__ import annotations

import base64
import json
import random
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import eventually, register_and_login
from tests.k8s.conftest import NAMESPACE, Platform, kubectl_json, run, wait_until
from tests.migration.load import Ballot, Load, Tally
from tests.migration.platform import SEAM_PROCESSES, SERVICES

ROOT = Path(__file__).resolve().parents[2]
HELM = ROOT / "deploy" / "helm"
GATEWAY_RELEASE, GATEWAY_PORT = "migration", 30081
# The monolith as the single-codebase step deploys it (docs/migration.md): a web Deployment per seam, each on its
# settings module, all on the one database; and the gateway's upstream values sending each route to its seam's
# (step 1).
SEAMS = {SERVICES[route].service_name: seam for route, seam in SEAM_PROCESSES.items()}
MONOLITH_SEAMS = [f"--set=seams.{seam}.web.replicaCount=1" for seam in SEAMS.values()]
TO_MONOLITH = [f"--set=upstreams.{service}.name=monolith-{seam}" for service, seam in SEAMS.items()]
# Each voter votes once in each poll: enough votes for the three steps at about one a second, helm's own time
# included, from few registrations (each hashes a password).
VOTERS, POLLS = 20, 8
MONOLITH_TAG = "0.1.0"  # deploy/helm/monolith's appVersion, monolith/pyproject.toml's version


def helm(*args: str) -> str:
    return run("helm", *args, "-n", NAMESPACE, timeout=900)


def image_tag(deployment: str) -> str:
    image = kubectl_json("get", "deployment", deployment)["spec"]["template"]["spec"]["containers"][0]["image"]
    return str(image).rsplit(":", 1)[1]


def grant_the_seams_kafka_rights() -> None:
    """What the contracts do not name while the seam moves (the script says which rights)."""
    def secret(name: str, key: str) -> str:
        return base64.b64decode(kubectl_json("get", "secret", name)["data"][key]).decode()

    result = run("sh", "-c", f'kubectl -n {NAMESPACE} exec -i deploy/vote-service-relay -- env KAFKA_ADMIN_PASSWORD="$A" '
                 f'MONOLITH_KAFKA_PASSWORD="$M" python - < {ROOT}/deploy/platform/votes-seam-kafka-acls.py',
                 env_extra={"A": secret("kafka-admin", "KAFKA_ADMIN_PASSWORD"),
                            "M": secret("monolith-kafka", "KAFKA_SASL_PASSWORD")})
    assert "granted" in result, result


@pytest.fixture(scope="module")
def migration(platform: Platform) -> Platform:
    """The platform told of the monolith (its database, Secrets and Kafka principal), vote-service believing the
    monolith's events, the monolith publishing and consuming, and a gateway routing its seams to it."""
    imported = run("bash", "-c", f"source {ROOT}/deploy/cluster/lib.sh && ctr_k8s images list -q", timeout=60)
    if f"docker.io/polls/polls-monolith:{MONOLITH_TAG}" not in imported.split():
        pytest.skip("no monolith image in the cluster: `make images IMAGES=monolith` (make test-k8s builds it)")
    helm("upgrade", "polls", str(HELM / "polls-platform"), "--reuse-values", "--wait", "--timeout=10m",
         "--set-string=services.monolith.database=monolith",
         "--set-string=services.monolith.secretName=monolith-database")
    grant_the_seams_kafka_rights()
    helm("upgrade", "vote-service", str(HELM / "vote-service"), "--reuse-values", "--wait", "--timeout=10m",
         "--set-string=config.extraEnv.MIGRATING_FROM=monolith")
    run("helm", "dependency", "build", str(HELM / "monolith"))
    helm("upgrade", "--install", "monolith", str(HELM / "monolith"), "--wait", "--timeout=10m",
         "-f", str(ROOT / "deploy/platform/dev-service-values.yaml"), "--set=events=consume",
         "--set-string=config.kafka.saslExistingSecret=monolith-kafka", *MONOLITH_SEAMS)
    helm("upgrade", "--install", GATEWAY_RELEASE, str(HELM / "gateway"), "--wait", "--timeout=5m",
         f"--set-string=image.tag={image_tag('polls-gateway')}", "--set=service.type=NodePort",
         f"--set=service.nodePort={GATEWAY_PORT}", *TO_MONOLITH)
    url = f"http://127.0.0.1:{GATEWAY_PORT}"
    wait_until(lambda: answers(f"{url}/api/polls/"), "the monolith behind the gateway")
    return Platform(url)


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=10).status_code == 200
    except httpx.TransportError:  # the new node port, not yet in the node's rules
        return False


def ballots(gateway: Platform, platform: Platform, count: int) -> list[Ballot]:
    """Polls and choices made in the monolith, once vote-service has heard of them (its shadow)."""
    made = []
    with gateway.client() as client:
        owner = register_and_login(client, f"owner-{uuid.uuid4().hex[:6]}")
        for n in range(count):
            poll = client.post("/api/polls/", json={"question": f"Tea or coffee {n}?"}, headers=owner)
            assert poll.status_code == 201, poll.text
            choices = [client.post("/api/choices/", json={"poll_id": poll.json()["id"], "text": text}, headers=owner)
                       for text in ("tea", "coffee")]
            assert all(c.status_code == 201 for c in choices), [c.text for c in choices]
            made.append(Ballot(poll.json()["id"], [c.json()["id"] for c in choices]))
    with platform.client() as client:
        for ballot in made:
            eventually(lambda: client.get(f"/api/votes/results/{ballot.poll_id}/"),
                       until=lambda r: r.status_code == 200, timeout=120)
    return made


def tokens(gateway: Platform, count: int) -> list[str]:
    """One after the other: auth-service hashes each password, and at once they outlast the gateway's timeout."""
    suffix = uuid.uuid4().hex[:6]
    with gateway.client() as client:
        return [register_and_login(client, f"voter-{suffix}-{n}")["Authorization"].removeprefix("Bearer ")
                for n in range(count)]


def totals(client: httpx.Client, poll: str) -> tuple[int, int]:
    """The poll's results total and total_votes, as the routes now stand."""
    results = client.get(f"/api/votes/results/{poll}/")
    detail = client.get(f"/api/polls/{poll}/")
    return int(results.json()["total"]), int(detail.json()["total_votes"])


def votes_served_by(gateway: Platform, poll: str) -> str:
    """Who answers /api/votes/ behind the gateway: vote-service streams a poll's results (/api/votes/live/), which
    the monolith has not."""
    with gateway.client() as client, client.stream("GET", f"/api/votes/live/{poll}/") as answer:
        return "vote-service" if answer.status_code == 200 else "monolith"


def revisions() -> list[int]:
    return [int(r["revision"]) for r in json.loads(helm("history", GATEWAY_RELEASE, "-o", "json"))]


def step(load: Load, votes: int, action: tuple[str, ...] = ()) -> tuple[Tally, float]:
    """The load going while `action` (a helm command) runs, then until `votes` more votes were accepted."""
    tally, started = load.resume(), time.monotonic()
    if action:
        helm(*action)
    before = len(load.accepted)
    wait_until(lambda: len(load.accepted) >= before + votes or not load.tokens, f"{votes} votes", timeout=300,
               interval=0.5)
    load.pause()
    return tally, time.monotonic() - started


def test_the_gateway_moves_votes_to_vote_service_and_back_by_helm_under_load(platform: Platform,
                                                                             migration: Platform) -> None:
    made = ballots(migration, platform, POLLS)
    votes = [(token, ballot) for token in tokens(migration, VOTERS) for ballot in made]
    random.shuffle(votes)
    load = Load(migration.url, votes, made, threads=2, rate=1.2, reads_per_vote=1)
    poll, routed = made[0].poll_id, revisions()[-1]  # step 1's revision, the one to roll back to
    steps, served = {}, {}
    load.start()
    try:
        steps["1 monolith"] = step(load, 10)
        served["1 monolith"] = votes_served_by(migration, poll)
        steps["4 helm upgrade"] = step(load, 15, ("upgrade", GATEWAY_RELEASE, str(HELM / "gateway"), "--reuse-values",
                                                  "--wait", "--timeout=5m",
                                                  "--set-string=upstreams.vote-service.name=vote-service"))
        served["4 helm upgrade"] = votes_served_by(migration, poll)
        steps["5 helm rollback"] = step(load, 10, ("rollback", GATEWAY_RELEASE, str(routed), "--wait",
                                                   "--timeout=5m"))
        served["5 helm rollback"] = votes_served_by(migration, poll)
    finally:
        load.stop()
    for name, (tally, seconds) in steps.items():
        print(f"{name}: {tally.requests} requests, {tally.failed} failed, {tally.retried} retried, {seconds:.0f} s")
        assert tally.failed == 0, f"{name}: {tally.failures[:5]}"
    assert served == {"1 monolith": "monolith", "4 helm upgrade": "vote-service", "5 helm rollback": "monolith"}
    assert revisions()[-3:] == [routed, routed + 1, routed + 2]

    accepted = {ballot.poll_id: 0 for ballot in made}
    for voted_in, _voter in load.accepted:
        accepted[voted_in] += 1
    assert sum(accepted.values()) >= 40, accepted
    # Both hold every vote accepted, once: the monolith behind this gateway (the route is back on it), vote-service
    # behind the platform's own.
    with migration.client() as monolith, platform.client() as vote_service:
        for voted_in, votes in accepted.items():
            assert wait_until(lambda: totals(monolith, voted_in) == (votes, votes), "the monolith's counts",
                              timeout=120, interval=1)
            assert wait_until(lambda: vote_service.get(f"/api/votes/results/{voted_in}/").json()["total"] == votes,
                              "vote-service's counts", timeout=120, interval=1)
