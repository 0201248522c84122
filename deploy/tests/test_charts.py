"""helm lint and the rendered objects of every chart, with default and non-default values."""
import re

import pytest
import yaml
from conftest import CHARTS, HELM_DIR, NON_DEFAULT, SERVICES, containers, env_of, helm, pod_specs, render

VALUE_SETS = {"default": [], "non-default": ["-f", NON_DEFAULT]}
GATEWAY_SETS = {"default": [], "non-default": ["--set-file", f"nginxConf={HELM_DIR.parents[1]}/deploy/tests/values/gateway-conf.nginx", "--set", "replicaCount=3"]}


def _cases():
    for chart in CHARTS:
        for name, args in (GATEWAY_SETS if chart == "gateway" else VALUE_SETS).items():
            yield pytest.param(chart, args, id=f"{chart}-{name}")


CASES = list(_cases())


@pytest.mark.parametrize(("chart", "args"), CASES)
def test_lint_strict(chart, args):
    helm("lint", "--strict", str(HELM_DIR / chart), *args)


@pytest.mark.parametrize(("chart", "args"), CASES)
def test_every_container_is_locked_down(chart, args):
    objects = render(chart, *args)
    seen = 0
    for obj, spec, c in containers(objects):
        seen += 1
        where = f"{obj['kind']}/{obj['metadata']['name']}/{c['name']}"
        sc = c["securityContext"]
        assert sc["runAsNonRoot"] is True, where
        assert sc["readOnlyRootFilesystem"] is True, where
        assert sc["allowPrivilegeEscalation"] is False, where
        assert sc["capabilities"]["drop"] == ["ALL"], where
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", where
        assert spec["securityContext"]["runAsUser"] > 0, where
        assert spec["automountServiceAccountToken"] is False, where
        assert c["resources"]["requests"] and c["resources"]["limits"]["memory"], where
        assert any(m["mountPath"] == "/tmp" for m in c["volumeMounts"]), where
        if obj["kind"] == "Deployment":
            assert c["livenessProbe"], where
    assert seen


@pytest.mark.parametrize(("chart", "args"), CASES)
def test_no_secret_values_rendered(chart, args):
    objects = render(chart, *args)
    text = yaml.safe_dump_all(objects)
    assert not [o for o in objects if o["kind"] == "Secret"]
    assert not re.search(r"PRIVATE KEY|postgres(ql)?://|password", text, re.IGNORECASE)
    for _, _, c in containers(objects):
        env = env_of(c)
        if "DATABASE_URL" in env:
            assert "value" not in env["DATABASE_URL"]
            assert env["DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"]


@pytest.mark.parametrize("chart", SERVICES)
@pytest.mark.parametrize("args", VALUE_SETS.values(), ids=VALUE_SETS.keys())
def test_processes_of_a_service(chart, args):
    objects = render(chart, *args)
    deployments = {o["metadata"]["labels"]["app.kubernetes.io/component"]: o for o in objects if o["kind"] == "Deployment"}
    web = deployments["web"]["spec"]["template"]["spec"]["containers"][0]
    assert "command" not in web  # the image's CMD: uvicorn config.asgi:application on 8000
    assert web["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
    assert web["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert web["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    expected_workers = {"relay": "events_relay"} | ({} if chart == "auth-service" else {"consumer": "events_consume"})
    assert set(deployments) == {"web", *expected_workers}
    for component, command in expected_workers.items():
        c = deployments[component]["spec"]["template"]["spec"]["containers"][0]
        assert c["command"] == ["python", "manage.py", command, "--metrics-port", "9100"]
        assert c["ports"] == [{"name": "metrics", "containerPort": 9100, "protocol": "TCP"}]
        assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    [job] = [o for o in objects if o["kind"] == "Job"]
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == ["python", "manage.py", "migrate", "--noinput"]
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    for _, _, c in containers(objects):
        env = env_of(c)
        assert env["DJANGO_SETTINGS_MODULE"]["value"] == "config.settings.prod"
        for name in ("KAFKA_BOOTSTRAP_SERVERS", "JWT_ISSUER", "JWT_AUDIENCE", "JWT_JWKS_URL", "ALLOWED_HOSTS"):
            assert env[name]["value"], name
        assert env["JWT_JWKS_URL"]["value"] == "http://auth-service/api/auth/jwks/"
        assert env["ALLOWED_HOSTS"]["value"].endswith("$(POD_IP)")
        assert list(env).index("POD_IP") < list(env).index("ALLOWED_HOSTS")  # $(VAR) sees earlier vars only


@pytest.mark.parametrize("chart", SERVICES)
def test_jwt_private_key_only_in_auth_web_as_a_file(chart):
    objects = render(chart)
    for obj, spec, c in containers(objects):
        env = env_of(c)
        component = obj["metadata"]["labels"]["app.kubernetes.io/component"]
        if chart == "auth-service" and component == "web":
            assert env["JWT_PRIVATE_KEY_FILE"]["value"] == "/var/run/secrets/jwt/private.pem"
            [volume] = [v for v in spec["volumes"] if "secret" in v]
            assert volume["secret"]["secretName"] == "auth-service-jwt"
            assert {"name": volume["name"], "mountPath": "/var/run/secrets/jwt", "readOnly": True} in c["volumeMounts"]
        else:
            assert "JWT_PRIVATE_KEY_FILE" not in env
            assert not [v for v in spec["volumes"] if "secret" in v]


@pytest.mark.parametrize("chart", SERVICES)
def test_autoscaling_only_vote_service_by_default(chart):
    objects = render(chart)
    hpas = [o for o in objects if o["kind"] == "HorizontalPodAutoscaler"]
    [web] = [o for o in objects if o["kind"] == "Deployment" and o["metadata"]["labels"]["app.kubernetes.io/component"] == "web"]
    if chart == "vote-service":
        [hpa] = hpas
        assert hpa["spec"]["scaleTargetRef"]["name"] == web["metadata"]["name"]
        assert "replicas" not in web["spec"]  # the HPA owns it
    else:
        assert not hpas and web["spec"]["replicas"] == 2


@pytest.mark.parametrize("chart", SERVICES)
def test_pdb_networkpolicy_and_scraping_by_default(chart):
    objects = render(chart)
    kinds = [o["kind"] for o in objects]
    assert kinds.count("PodDisruptionBudget") == 1 and kinds.count("NetworkPolicy") == 1
    [np] = [o for o in objects if o["kind"] == "NetworkPolicy"]
    assert np["spec"]["ingress"] and all(rule["from"] for rule in np["spec"]["ingress"])  # empty `from` = anyone
    assert "PodMonitor" not in kinds
    for obj, _ in pod_specs(objects):
        if obj["kind"] == "Deployment":
            assert obj["spec"]["template"]["metadata"]["annotations"]["prometheus.io/scrape"] == "true"


def test_non_default_values_switch_branches():
    objects = render("polls-service", "-f", NON_DEFAULT)
    kinds = [o["kind"] for o in objects]
    assert "HorizontalPodAutoscaler" in kinds and "PodMonitor" in kinds and "ServiceAccount" not in kinds
    for obj, spec, c in containers(objects):
        assert c["image"].startswith("polls/polls-service@sha256:")
        assert spec["imagePullSecrets"] == [{"name": "registry"}]
        assert "prometheus.io/scrape" not in obj["spec"]["template"]["metadata"].get("annotations", {})
        assert env_of(c)["ALLOWED_HOSTS"]["value"].startswith("polls.example.com,custom,")
        assert env_of(c)["LOG_LEVEL"]["value"] == "debug"


@pytest.mark.parametrize(
    "override",
    ["securityContext.readOnlyRootFilesystem=false", "podSecurityContext.runAsNonRoot=false", "database.existingSecret=",
     "config.extraEnv.DATABASE_URL=postgres://x", "image.digest=latest", "unknownKey=1"],
)
def test_schema_rejects(override):
    result = helm("template", "x", str(HELM_DIR / "vote-service"), "--set", override, check=False)
    assert result.returncode != 0 and "schema" in result.stderr


def test_gateway_config_from_a_file():
    conf = (HELM_DIR.parents[1] / "deploy/tests/values/gateway-conf.nginx").read_text()
    objects = render("gateway", *GATEWAY_SETS["non-default"])
    [cm] = [o for o in objects if o["kind"] == "ConfigMap"]
    assert cm["data"]["default.conf"].strip() == conf.strip()
    [deploy] = [o for o in objects if o["kind"] == "Deployment"]
    assert deploy["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
    deny = [o for o in objects if o["kind"] == "NetworkPolicy" and o["spec"]["podSelector"] == {}]
    assert deny and "ingress" not in deny[0]["spec"]


def _leaves(tree, path=()):
    if isinstance(tree, dict) and tree:
        for key, value in tree.items():
            yield from _leaves(value, (*path, key))
    else:
        yield path


@pytest.mark.parametrize("chart", CHARTS)
def test_every_value_is_documented(chart):
    """helm-docs style: a comment right above a key documents it and everything under it."""
    lines = (HELM_DIR / chart / "values.yaml").read_text().splitlines()
    documented, stack = set(), []
    for i, line in enumerate(lines):
        m = re.match(r"^( *)([A-Za-z][\w.-]*):", line)
        if not m:
            continue
        depth = len(m.group(1)) // 2
        stack = [*stack[:depth], m.group(2)]
        if i and lines[i - 1].strip().startswith("#"):
            documented.add(tuple(stack))
    for leaf in _leaves(yaml.safe_load("\n".join(lines))):
        assert any(leaf[:n] in documented for n in range(1, len(leaf) + 1)), f"{chart}: {'.'.join(leaf)} undocumented"


def test_service_charts_share_one_shape():
    shapes = {c: sorted(_leaves(yaml.safe_load((HELM_DIR / c / "values.yaml").read_text()))) for c in SERVICES}
    assert all(shape == shapes["vote-service"] for shape in shapes.values())
