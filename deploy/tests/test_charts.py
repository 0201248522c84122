"""helm lint and the rendered objects of every chart, with default and non-default values and those `make deploy`
installs with."""
import json
import re

import pytest
import yaml
from conftest import (
    CHARTS,
    GATEWAY_NON_DEFAULT,
    HELM_DIR,
    MONOLITH_SEAMS,
    NON_DEFAULT,
    PLATFORM_NON_DEFAULT,
    ROOT,
    SERVICES,
    containers,
    env_of,
    helm,
    pod_specs,
    render,
)

VALUE_SETS = {"default": [], "non-default": ["-f", NON_DEFAULT]}
GATEWAY_SETS = {"default": [], "non-default": ["-f", GATEWAY_NON_DEFAULT]}
PLATFORM_SETS = {"default": [], "non-default": ["-f", PLATFORM_NON_DEFAULT]}
MONOLITH_SETS = {**VALUE_SETS, "seams": ["-f", MONOLITH_SEAMS]}
SETS = {"monolith": MONOLITH_SETS,
        "gateway": GATEWAY_SETS, "polls-platform": PLATFORM_SETS, "postgresql": {"default": []}, "kafka": {"default": []}}


# What `make deploy` installs with (deploy/platform/), linted and schema-checked like the rest.
DEPLOY_VALUES = {**dict.fromkeys([*SERVICES, "monolith"], "dev-service-values.yaml"),
                 "polls-platform": "dev-platform-values.yaml"}


def _cases():
    for chart in CHARTS:
        for name, args in SETS.get(chart, VALUE_SETS).items():
            yield pytest.param(chart, args, id=f"{chart}-{name}")
        if chart in DEPLOY_VALUES:
            yield pytest.param(chart, ["-f", str(ROOT / "deploy" / "platform" / DEPLOY_VALUES[chart])],
                               id=f"{chart}-make-deploy")


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
        # Prometheus alone talks to the Kubernetes API (pod discovery).
        assert spec["automountServiceAccountToken"] is (c["name"] == "prometheus"), where
        assert c["resources"]["requests"] and c["resources"]["limits"]["memory"], where
        assert any(m["mountPath"] == "/tmp" for m in c["volumeMounts"]), where
        if obj["kind"] == "Deployment":
            assert c["livenessProbe"], where
    assert seen


@pytest.mark.parametrize(("chart", "args"), [c for c in CASES if c.values[0] != "polls-platform"])
def test_no_secret_values_rendered(chart, args):
    objects = render(chart, *args)
    text = yaml.safe_dump_all(objects)
    assert not [o for o in objects if o["kind"] == "Secret"]
    assert not re.search(r"PRIVATE KEY|postgres(ql)?://", text)
    for _, _, c in containers(objects):
        for name, entry in env_of(c).items():
            if re.search(r"DATABASE_URL|PASSWORD|SECRET", name):
                assert "value" not in entry and entry["valueFrom"]["secretKeyRef"]["name"], name


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
        assert env["JWT_JWKS_URL"]["value"] == "http://auth-service.polls.svc.cluster.local/api/auth/jwks/"
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
    # Every peer is matched in any namespace: the gateway, Prometheus and the teams need not share one.
    assert all("namespaceSelector" in peer for rule in np["spec"]["ingress"] for peer in rule["from"])
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
        env = env_of(c)
        assert env["ALLOWED_HOSTS"]["value"].startswith("polls.example.com,custom,")
        assert env["LOG_LEVEL"]["value"] == "debug"
        assert env["SENTRY_DSN"]["valueFrom"] == {"secretKeyRef": {"name": "sentry", "key": "dsn"}}
        assert c["envFrom"] == [{"configMapRef": {"name": "team-settings"}}]
        assert env["DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"] == "polls-db"
        assert env["DJANGO_SECRET_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "django-secret-key", "key": "DJANGO_SECRET_KEY"}
        assert {k: env[k]["value"] for k in ("KAFKA_SECURITY_PROTOCOL", "KAFKA_SASL_MECHANISM", "KAFKA_REPLICATION_FACTOR",
                                             "KAFKA_TOPIC_PREFIX", "KAFKA_SSL_CA_LOCATION")} == {
            "KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512", "KAFKA_REPLICATION_FACTOR": "3",
            "KAFKA_TOPIC_PREFIX": "staging.", "KAFKA_SSL_CA_LOCATION": "/var/run/secrets/kafka-ca/ca.crt"}
        assert env["KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "kafka-user", "key": "KAFKA_SASL_PASSWORD"}
        mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
        assert mounts["/etc/team"] == "extra" and mounts["/var/run/secrets/kafka-ca"] == "kafka-ca"
        assert {"extra", "kafka-ca"} <= {v["name"] for v in spec["volumes"]}
        template = obj["spec"]["template"]["metadata"]
        assert template["labels"]["team"] == "polls" and template["annotations"]["team"] == "polls"
        if obj["kind"] == "Deployment":
            [spread] = spec["topologySpreadConstraints"]
            assert spread["labelSelector"]["matchLabels"] == obj["spec"]["selector"]["matchLabels"]
            assert "lifecycle" not in c  # preStopSleepSeconds: 0
    [ingress] = [o for o in objects if o["kind"] == "Ingress"]
    assert ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"] == {"name": "custom", "port": {"name": "http"}}


def test_any_release_name_and_namespace():
    """A team installs under its own name and namespace; the gateway is told where by values."""
    objects = render("vote-service", "--namespace", "team-votes", release="votes")
    [service] = [o for o in objects if o["kind"] == "Service"]
    assert service["metadata"]["name"] == "votes-vote-service"
    for _, _, c in containers(objects):
        env = env_of(c)
        assert env["DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"] == "votes-vote-service-database"
        assert "votes-vote-service.team-votes.svc.cluster.local" in env["ALLOWED_HOSTS"]["value"].split(",")
    gateway = render("gateway", "-f", GATEWAY_NON_DEFAULT)
    [config] = [o for o in gateway if o["kind"] == "ConfigMap" and "cluster.conf" in o["data"]]
    routes = config["data"]["cluster.conf"]
    assert 'map $host $route_vote_service { default "votes-vote-service.team-votes.svc.cluster.local:80"; }' in routes
    assert 'map $host $route_polls_service { default "polls-service.polls.svc.cluster.local:80"; }' in routes


@pytest.mark.parametrize("chart", SERVICES)
def test_web_pods_drain_before_they_stop(chart):
    [web] = [o for o in render(chart)
             if o["kind"] == "Deployment" and o["metadata"]["labels"]["app.kubernetes.io/component"] == "web"]
    [c] = web["spec"]["template"]["spec"]["containers"]
    assert c["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", "5"]
    assert web["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 35


@pytest.mark.parametrize(
    ("override", "complaint"),
    [("securityContext.readOnlyRootFilesystem=false", "read-only root filesystem"),
     ("podSecurityContext.runAsNonRoot=false", "non-root"),
     ("config.extraEnv.DATABASE_URL=postgres://x", "DATABASE_URL is a secret"),
     ("image.digest=latest", "is not sha256"),
     ("unknownKey=1", 'unknown key "unknownKey"'),
     ("autoscaling.minReplicas=0", "schema")],
)
def test_shared_refusals_and_the_charts_own_schema(override, complaint):
    result = helm("template", "x", str(HELM_DIR / "vote-service"), "--set", override, check=False)
    assert result.returncode != 0 and complaint in result.stderr


def test_auth_service_schema_wants_its_signing_key():
    result = helm("template", "x", str(HELM_DIR / "auth-service"), "--set", "jwtPrivateKey.existingSecret=", check=False)
    assert result.returncode != 0 and "schema" in result.stderr


def _leaves(tree, path=()):
    if isinstance(tree, dict) and tree:
        for key, value in tree.items():
            yield from _leaves(value, (*path, key))
    else:
        yield path


@pytest.mark.parametrize("chart", CHARTS)
def test_every_value_is_documented(chart):
    """helm-docs style: a comment right above a key documents it and everything under it."""
    _assert_documented(chart, (HELM_DIR / chart / "values.yaml").read_text().splitlines())


def _assert_documented(chart, lines):
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


def _library_defaults():
    return yaml.safe_load((HELM_DIR / "service-common/values.yaml").read_text())["exports"]["defaults"]


@pytest.mark.parametrize("chart", SERVICES)
def test_a_service_values_file_holds_only_what_differs(chart):
    """Every leaf a service chart sets exists in the library's defaults and differs from it."""
    defaults, own = _library_defaults(), yaml.safe_load((HELM_DIR / chart / "values.yaml").read_text())
    for leaf in _leaves(own):
        default = defaults
        for key in leaf:
            assert isinstance(default, dict) and key in default, f"{chart}: {'.'.join(leaf)} is not a library value"
            default = default[key]
        value = own
        for key in leaf:
            value = value[key]
        assert value != default, f"{chart}: {'.'.join(leaf)} repeats the library's default"


def test_the_library_defaults_are_documented():
    lines = (HELM_DIR / "service-common/values.yaml").read_text().splitlines()
    body = lines[lines.index("  defaults:") + 1:]
    _assert_documented("service-common", [line[4:] for line in body])


def test_a_numeric_image_tag_is_rendered_as_written():
    """`--set postgresql.image.tag=15` gives the umbrella a number, not a string: its images must read `name:15`."""
    objects = render("polls-platform", "--set", "postgresql.image.tag=15", "--set", "prometheus.image.tag=15")
    images = [c["image"] for _, _, c in containers(objects) if "postgresql" in c["image"] or "prometheus" in c["image"]]
    assert len(images) >= 3 and all(image.endswith(":15") for image in images), images


def _web_deployment(objects):
    [web] = [o for o in objects if o["kind"] == "Deployment" and o["metadata"]["labels"]["app.kubernetes.io/component"] == "web"]
    return web


def test_the_whole_jwt_secret_is_mounted_so_the_next_key_of_a_rotation_is_there_too():
    web = _web_deployment(render("auth-service", "--set", "jwtPrivateKey.nextPublicKey=next.pem"))
    spec = web["spec"]["template"]["spec"]
    [volume] = [v for v in spec["volumes"] if "secret" in v]
    assert "items" not in volume["secret"]  # every key of the Secret, not private.pem alone
    env = env_of(spec["containers"][0])
    assert env["JWT_PRIVATE_KEY_FILE"]["value"] == "/var/run/secrets/jwt/private.pem"
    assert env["JWT_NEXT_PUBLIC_KEY_FILE"]["value"] == "/var/run/secrets/jwt/next.pem"


OBSERVABILITY = ROOT / "deploy" / "observability"
PROMETHEUS_RULE_API = "monitoring.coreos.com/v1/PrometheusRule"


def test_the_rules_are_a_prometheus_rule_where_the_operator_is_and_the_built_in_prometheus_reads_them():
    rules = yaml.safe_load((OBSERVABILITY / "rules.yml").read_text())
    plain = render("polls-platform")
    assert not [o for o in plain if o["kind"] == "PrometheusRule"]
    [config] = [o for o in plain if o["kind"] == "ConfigMap" and "rules.yml" in o.get("data", {})]
    assert yaml.safe_load(config["data"]["rules.yml"]) == rules
    [rule] = [o for o in render("polls-platform", "--api-versions", PROMETHEUS_RULE_API) if o["kind"] == "PrometheusRule"]
    assert rule["spec"] == rules


def test_the_dashboard_is_a_grafana_provisioning_configmap():
    [dashboard] = [o for o in render("polls-platform") if o["kind"] == "ConfigMap" and "platform.json" in o.get("data", {})]
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(dashboard["data"]["platform.json"]) == json.loads(
        (OBSERVABILITY / "grafana" / "dashboards" / "platform.json").read_text())


def test_the_platforms_kafka_authenticates_and_admits_only_the_services_processes():
    """SASL/SCRAM with the admin's generated password, one Kafka Secret per service in its namespace, the grant
    Job, and a NetworkPolicy that admits only the services' web/relay/consumer pods (each in its own namespace)
    and that Job: not the gateway, no other namespace."""
    objects = render("polls-platform", "--set", "services.vote-service.namespace=team-votes", release="polls")
    [kafka] = [o for o in objects if o["kind"] == "StatefulSet" and o["metadata"]["name"].endswith("-kafka")]
    [broker] = kafka["spec"]["template"]["spec"]["containers"]
    admin = env_of(broker)["KAFKA_ADMIN_PASSWORD"]["valueFrom"]["secretKeyRef"]
    assert admin == {"name": "kafka-admin", "key": "KAFKA_ADMIN_PASSWORD"}
    secrets = {(o["metadata"]["name"], o["metadata"].get("namespace")) for o in objects if o["kind"] == "Secret"}
    assert ("vote-service-kafka", "team-votes") in secrets and ("polls-service-kafka", "polls") in secrets
    [job] = [o for o in objects if o["kind"] == "Job" and o["metadata"]["name"].endswith("-kafka-grant")]
    assert job["spec"]["template"]["spec"]["containers"][0]["command"][:3] == ["python", "-m", "event_contracts.access"]
    [policy] = [o for o in objects if o["kind"] == "NetworkPolicy"
                and {"key": "app.kubernetes.io/name", "operator": "In", "values": ["kafka"]}
                in o["spec"]["podSelector"].get("matchExpressions", [])]
    [rule] = policy["spec"]["ingress"]
    peers = rule["from"]
    assert len(peers) == len(SERVICES) + 1
    for peer in peers[:-1]:
        namespace = peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        [name, component] = peer["podSelector"]["matchExpressions"]
        assert name["values"][0] in SERVICES and namespace == ("team-votes" if name["values"] == ["vote-service"] else "polls")
        assert component == {"key": "app.kubernetes.io/component", "operator": "In", "values": ["web", "relay", "consumer"]}
    assert peers[-1] == {"podSelector": {"matchLabels": {"app.kubernetes.io/instance": "polls",
                                                         "app.kubernetes.io/component": "kafka-grant"}}}


@pytest.mark.parametrize("chart", SERVICES)
def test_the_jwks_is_fetched_by_auth_services_fully_qualified_name(chart):
    """A short name resolves in the consumer's own namespace, where another Service could be named auth-service."""
    def jwks_urls(*args):
        return {env_of(c)["JWT_JWKS_URL"]["value"] for _, _, c in containers(render(chart, *args))}

    assert jwks_urls() == {"http://auth-service.polls.svc.cluster.local/api/auth/jwks/"}
    assert jwks_urls("--set", "config.jwt.authService.namespace=identity", "--set", "config.clusterDomain=corp.local") == {
        "http://auth-service.identity.svc.corp.local/api/auth/jwks/"}
    assert jwks_urls("--set", "config.jwt.jwksUrl=https://auth.example/jwks") == {"https://auth.example/jwks"}
    assert jwks_urls("-f", str(ROOT / "deploy" / "platform" / "dev-service-values.yaml")) == {
        "http://auth-service.polls.svc.cluster.local/api/auth/jwks/"}


@pytest.mark.parametrize("chart", SERVICES)
def test_a_services_pods_reach_only_dns_postgresql_kafka_and_the_jwks(chart):
    [np] = [o for o in render(chart) if o["kind"] == "NetworkPolicy"]
    assert np["spec"]["policyTypes"] == ["Ingress", "Egress"]
    destinations = {}
    for rule in np["spec"]["egress"]:
        assert rule["to"] and rule["ports"], rule  # an empty `to` or no ports would mean anywhere
        [peer] = rule["to"]
        labels = peer["podSelector"]["matchLabels"]
        destinations[labels.get("app.kubernetes.io/name") or labels["k8s-app"]] = sorted(
            (p["port"], p["protocol"]) for p in rule["ports"])
    assert destinations == {"kube-dns": [(53, "TCP"), (53, "UDP")], "postgresql": [(5432, "TCP")],
                            "kafka": [(9092, "TCP")], "auth-service": [(8000, "TCP")]}
    # Ingress: the gateway on the web port, Prometheus on the metrics port; nobody else.
    # (auth-service also serves its JWKS to the platform's pods: part-of polls.)
    peers = [peer["podSelector"]["matchLabels"] for rule in np["spec"]["ingress"] for peer in rule["from"]]
    names = {labels.get("app.kubernetes.io/name", labels.get("app.kubernetes.io/part-of")) for labels in peers}
    assert names <= {"gateway", "prometheus", "polls"} and "gateway" in names
    off = [o for o in render(chart, "--set", "networkPolicy.egress.enabled=false") if o["kind"] == "NetworkPolicy"]
    assert off[0]["spec"]["policyTypes"] == ["Ingress"] and "egress" not in off[0]["spec"]


def test_postgresql_admits_the_services_each_from_its_namespace_and_db_init_only():
    objects = render("polls-platform", "--set", "services.vote-service.namespace=team-votes", release="polls")
    [np] = [o for o in objects if o["kind"] == "NetworkPolicy" and o["metadata"]["name"] == "polls-postgresql"]
    assert np["spec"]["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "postgresql",
                                                        "app.kubernetes.io/instance": "polls"}
    [rule] = np["spec"]["ingress"]
    assert rule["ports"] == [{"port": 5432, "protocol": "TCP"}]
    admitted = {(peer.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name"),
                 tuple(sorted(peer["podSelector"]["matchLabels"].items()))) for peer in rule["from"]}
    assert admitted == {
        *(("polls", (("app.kubernetes.io/name", s),)) for s in SERVICES if s != "vote-service"),
        ("team-votes", (("app.kubernetes.io/name", "vote-service"),)),
        (None, (("app.kubernetes.io/component", "db-init"), ("app.kubernetes.io/instance", "polls"))),
    }
    # Kafka's own policy no longer lets its clients reach PostgreSQL.
    for other in (o for o in objects if o["kind"] == "NetworkPolicy" and o is not np):
        for expression in other["spec"]["podSelector"].get("matchExpressions", []):
            assert "postgresql" not in expression.get("values", [])


def test_db_init_gives_each_role_its_own_database_alone():
    [job] = [o for o in render("polls-platform") if o["kind"] == "Job" and o["metadata"]["name"].endswith("db-init")]
    script = job["spec"]["template"]["spec"]["containers"][0]["command"][-1]
    for statement in ("REVOKE ALL ON DATABASE %I FROM PUBLIC", "GRANT CONNECT, TEMPORARY ON DATABASE %I TO %I",
                      "ALTER DATABASE %I OWNER TO %I", "REVOKE ALL ON DATABASE postgres FROM PUBLIC"):
        assert statement in script
    entrypoint = (ROOT / "deploy" / "docker" / "postgresql" / "entrypoint.sh").read_text()
    assert "host sameuser all all scram-sha-256" in entrypoint and "host all all all" not in entrypoint


def _gateway_service(*args):
    [service] = [o for o in render("gateway", *args) if o["kind"] == "Service"]
    return service["spec"]


@pytest.mark.parametrize("kind", ["NodePort", "LoadBalancer"])
def test_a_gateway_reached_from_outside_keeps_the_clients_address(kind):
    assert _gateway_service("--set", f"service.type={kind}")["externalTrafficPolicy"] == "Local"
    # Inside the cluster there is no external traffic to keep apart.
    assert "externalTrafficPolicy" not in _gateway_service()


def test_the_gateway_trusts_no_proxy_unless_told():
    [config] = [o for o in render("gateway") if o["kind"] == "ConfigMap" and "cluster.conf" in o["data"]]
    assert "set_real_ip_from" not in config["data"]["cluster.conf"] + config["data"]["nginx.conf"]
    assert "real_ip_header X-Forwarded-For;" in config["data"]["nginx.conf"]
    assert "real_ip_recursive on;" in config["data"]["nginx.conf"]
    told = render("gateway", "--set", "trustedProxies={10.0.0.0/8,2001:db8::/32}")
    [config] = [o for o in told if o["kind"] == "ConfigMap" and "cluster.conf" in o["data"]]
    assert re.findall(r"set_real_ip_from (\S+);", config["data"]["cluster.conf"]) == ["10.0.0.0/8", "2001:db8::/32"]


@pytest.mark.parametrize("value", ["0.0.0.0/0", "::/0", "*", "10.0.0.0/8; include /etc/passwd"])
def test_the_gateway_refuses_to_trust_everyone_or_a_config_injection(value):
    result = helm("template", "gateway", str(HELM_DIR / "gateway"), "--set", f"trustedProxies={{{value}}}", check=False)
    assert result.returncode != 0


@pytest.mark.parametrize("chart", SERVICES)
def test_services_believe_x_forwarded_for_from_the_pod_cidr_only(chart):
    for _, _, c in containers(render(chart)):
        assert env_of(c)["FORWARDED_ALLOW_IPS"]["value"] == "10.244.0.0/16"
    told = render(chart, "--set", "config.forwardedAllowIps={10.42.0.0/16,fd00::/48}")
    assert {env_of(c)["FORWARDED_ALLOW_IPS"]["value"] for _, _, c in containers(told)} == {"10.42.0.0/16,fd00::/48"}


@pytest.mark.parametrize("value", ["*", "0.0.0.0/0", "::/0"])
def test_services_refuse_to_believe_everyone(value):
    result = helm("template", "x", str(HELM_DIR / "vote-service"), "--set", f"config.forwardedAllowIps={{{value}}}",
                  check=False)
    assert result.returncode != 0


def test_a_request_waits_for_a_web_thread_a_bounded_time():
    """Past web.queueSeconds a request is refused 503 before any of its work (service_kit.asgi); 0 lifts it."""
    bounded = [(c["name"], env_of(c).get("WEB_QUEUE_SECONDS")) for _, _, c in containers(render("vote-service"))]
    assert ("web", {"name": "WEB_QUEUE_SECONDS", "value": "1"}) in bounded
    assert all(value is None for name, value in bounded if name != "web")  # the others serve no requests
    unbounded = containers(render("vote-service", "--set", "web.queueSeconds=0"))
    assert not any("WEB_QUEUE_SECONDS" in env_of(c) for _, _, c in unbounded)
