"""Tracing in the charts: the services' OTEL_* variables, the umbrella chart's Zipkin, the gateway's sampling."""

import re

from conftest import containers, env_of, render


def test_a_service_sends_its_spans_only_where_told():
    off = [env_of(c) for _, _, c in containers(render("vote-service"))]
    assert off and not any(name.startswith("OTEL_") for env in off for name in env)
    endpoint = "http://polls-zipkin.polls.svc.cluster.local:9411/api/v2/spans"
    on = [env_of(c) for _, _, c in containers(render("vote-service", "--set", f"config.tracing.zipkinEndpoint={endpoint}",
                                                     "--set", "config.tracing.sampleRatio=0.1"))]
    for env in on:
        assert env["OTEL_EXPORTER_ZIPKIN_ENDPOINT"]["value"] == endpoint
        assert env["OTEL_TRACES_SAMPLER"]["value"] == "parentbased_traceidratio"
        assert env["OTEL_TRACES_SAMPLER_ARG"]["value"] == "0.1"


def _egress_to_zipkin(*args):
    [np] = [o for o in render("vote-service", *args) if o["kind"] == "NetworkPolicy"]
    return [rule["ports"] for rule in np["spec"]["egress"]
            if rule["to"][0]["podSelector"]["matchLabels"].get("app.kubernetes.io/name") == "zipkin"]


def test_a_services_pods_reach_zipkin_only_while_they_send_it_spans():
    assert _egress_to_zipkin() == []
    endpoint = "http://polls-zipkin.polls.svc.cluster.local:9411/api/v2/spans"
    assert _egress_to_zipkin("--set", f"config.tracing.zipkinEndpoint={endpoint}") == [[{"port": 9411, "protocol": "TCP"}]]


def test_the_umbrella_chart_runs_zipkin_when_asked():
    assert not [o for o in render("polls-platform") if "zipkin" in o["metadata"]["name"]]
    objects = [o for o in render("polls-platform", "--set", "zipkin.enabled=true", release="polls")
               if o["metadata"]["name"] == "polls-zipkin"]
    assert {o["kind"] for o in objects} == {"Deployment", "Service", "NetworkPolicy"}
    [service] = [o for o in objects if o["kind"] == "Service"]
    assert service["spec"]["ports"][0]["port"] == 9411
    # The namespace denies ingress by default: Zipkin's port is opened for the spans and the UI.
    [policy] = [o for o in objects if o["kind"] == "NetworkPolicy"]
    assert policy["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == "zipkin"
    assert policy["spec"]["ingress"] == [{"ports": [{"port": "http", "protocol": "TCP"}]}]


def _flags_map(*args):
    [config] = [o for o in render("gateway", *args) if o["kind"] == "ConfigMap" and "cluster.conf" in o.get("data", {})]
    conf = config["data"]["cluster.conf"]
    return conf[conf.index("map $edge_trace_id $edge_trace_flags"):].split("\n}", 1)[0]


def test_the_gateway_chart_samples_the_trace_ids_its_ratio_says():
    assert re.search(r"default 01;", _flags_map())
    # --set-json: `--set` hands Helm "0.1" as a string, which the schema refuses.
    block = _flags_map("--set-json", "tracing.sampleRatio=0.1")
    [pattern] = re.findall(r'"~(.+)" 01;', block)
    # round(0.1 x 256) = 26 of the 256 values of the trace id's 17th-18th hex digits: 00 to 19.
    sampled = [value for value in range(256) if re.search(pattern, "4bf92f3577b34da6" + f"{value:02x}" + "0" * 14)]
    assert sampled == list(range(26))
    assert "default 00;" in block
