"""The monolith's chart (deploy/helm/monolith): one web process or one per settings module on the one database, and
MONOLITH_EVENTS deciding which workers run; the gateway's route of a prefix moved to it by values alone."""
import pytest
import yaml
from conftest import HELM_DIR, MONOLITH_SEAMS, containers, env_of, helm, render


def _by_kind(objects, kind):
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def _env(deployment):
    return {name: entry.get("value", entry.get("valueFrom"))
            for name, entry in env_of(deployment["spec"]["template"]["spec"]["containers"][0]).items()}


def test_by_default_one_web_process_serves_everything_and_no_event_leaves():
    objects = render("monolith")
    deployments = _by_kind(objects, "Deployment")
    assert set(deployments) == {"monolith"}  # no relay, no consumer while MONOLITH_EVENTS is off
    assert _env(deployments["monolith"])["DJANGO_SETTINGS_MODULE"] == "monolith.settings"
    assert set(_by_kind(objects, "Service")) == {"monolith"}
    [job] = _by_kind(objects, "Job").values()
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == ["python", "manage.py", "migrate", "--noinput"]
    for _, _, c in containers(objects):
        assert c["image"] == "polls/polls-monolith:0.1.0"
        assert env_of(c)["MONOLITH_EVENTS"]["value"] == "off"
        assert env_of(c)["DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"] == "monolith-database"


@pytest.mark.parametrize(("events", "workers"), [("publish", {"relay"}), ("consume", {"relay", "consumer"})])
def test_events_says_which_workers_run(events, workers):
    objects = render("monolith", "--set", f"events={events}")
    deployments = _by_kind(objects, "Deployment")
    assert set(deployments) == {"monolith", *(f"monolith-{worker}" for worker in workers)}
    for worker in workers:
        c = deployments[f"monolith-{worker}"]["spec"]["template"]["spec"]["containers"][0]
        assert c["command"] == ["python", "manage.py", f"events_{worker}" if worker == "relay" else "events_consume",
                                "--metrics-port", "9100"]
    assert {env_of(c)["MONOLITH_EVENTS"]["value"] for _, _, c in containers(objects)} == {events}


def test_one_web_process_per_seam_on_its_settings_module_and_the_one_database():
    objects = render("monolith", "-f", MONOLITH_SEAMS)
    deployments, services = _by_kind(objects, "Deployment"), _by_kind(objects, "Service")
    seams = ("polls", "choices", "votes")
    assert set(services) == {f"monolith-{seam}" for seam in seams}
    assert set(deployments) == {*services, "monolith-relay", "monolith-consumer"}
    for seam in seams:
        web = deployments[f"monolith-{seam}"]
        env = _env(web)
        assert env["DJANGO_SETTINGS_MODULE"] == f"monolith.settings_{seam}"
        assert env["ALLOWED_HOSTS"].startswith(f"monolith-{seam},monolith-{seam}.polls.svc,")  # the gateway's Host
        selector = web["spec"]["selector"]["matchLabels"]
        assert selector["polls.dev/seam"] == seam and selector["app.kubernetes.io/component"] == "web"
        assert services[f"monolith-{seam}"]["spec"]["selector"] == selector  # its own pods, no other seam's
        assert web["spec"]["template"]["metadata"]["labels"].items() >= selector.items()
        assert web["spec"]["template"]["spec"]["serviceAccountName"] == "monolith"
    # Scaled apart: the votes process has its own replicas and HPA, the others keep the defaults.
    assert "replicas" not in deployments["monolith-votes"]["spec"]
    assert deployments["monolith-polls"]["spec"]["replicas"] == 2
    [hpa] = _by_kind(objects, "HorizontalPodAutoscaler").values()
    assert hpa["spec"]["scaleTargetRef"]["name"] == "monolith-votes" and hpa["spec"]["minReplicas"] == 3
    assert set(_by_kind(objects, "PodDisruptionBudget")) == set(services)
    # Once per release, whatever the processes: one schema, one database, one migration, one relay, one consumer.
    assert len(_by_kind(objects, "Job")) == 1 and len(_by_kind(objects, "ServiceAccount")) == 1
    assert {env_of(c)["DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"] for _, _, c in containers(objects)} == {
        "monolith-database"}
    assert _env(deployments["monolith-relay"])["DJANGO_SETTINGS_MODULE"] == "monolith.settings"
    # The release's NetworkPolicy covers every process (the namespace denies what no policy admits).
    [policy] = _by_kind(objects, "NetworkPolicy").values()
    for web in deployments.values():
        assert web["spec"]["template"]["metadata"]["labels"].items() >= policy["spec"]["podSelector"]["matchLabels"].items()


def test_the_seams_of_the_platform_and_the_events_it_knows_only():
    for override, complaint in (("seams.auth.web.replicaCount=1", "seams"), ("events=on", "events"),
                                ("unknownKey=1", 'unknown key "unknownKey"')):
        result = helm("template", "x", str(HELM_DIR / "monolith"), "--set", override, check=False)
        assert result.returncode != 0 and complaint in result.stderr, override


def test_its_values_file_holds_only_what_differs_besides_its_own_two():
    defaults = yaml.safe_load((HELM_DIR / "service-common/values.yaml").read_text())["exports"]["defaults"]
    own = yaml.safe_load((HELM_DIR / "monolith/values.yaml").read_text())
    assert set(own) - set(defaults) == {"events", "seams"}
    assert own["config"]["settingsModule"] != defaults["config"]["settingsModule"]


def test_the_gateway_moves_one_route_to_the_monolith_by_values_alone():
    """Step 4's switch (docs/migration.md): the votes route's upstream, the other routes untouched."""
    def routes(*args):
        [config] = [o for o in render("gateway", *args) if o["kind"] == "ConfigMap" and "cluster.conf" in o["data"]]
        return {line.split()[2]: line.split('"')[1] for line in config["data"]["cluster.conf"].splitlines()
                if line.startswith("map $host $route_")}

    before = routes()
    moved = routes("--set", "upstreams.vote-service.name=monolith-votes")
    assert moved["$route_vote_service"] == "monolith-votes.polls.svc.cluster.local:80"
    assert {k: v for k, v in moved.items() if k != "$route_vote_service"} == {
        k: v for k, v in before.items() if k != "$route_vote_service"}
    assert before["$route_vote_service"] == "vote-service.polls.svc.cluster.local:80"
