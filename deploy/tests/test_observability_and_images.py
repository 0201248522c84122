"""Prometheus config and rules (promtool), the Grafana dashboard, and the Dockerfiles read as text."""
import json
import re
import shutil
import subprocess

import pytest
import yaml
from conftest import ROOT, SERVICES

OBS = ROOT / "deploy" / "observability"
METRICS = {
    "django_events_outbox_backlog", "django_events_outbox_oldest_age_seconds", "django_events_relay_sent_total",
    "django_events_relay_failed_total", "django_events_consumer_processed_total", "django_events_consumer_retried_total",
    "django_events_consumer_dead_lettered_total", "django_events_consumer_lag", "django_events_projection_lag_seconds",
    "django_events_dead_letters_outstanding", "django_events_dead_letter_oldest_age_seconds",
    "django_events_parked_keys", "django_events_held_events",
    "http_requests_total", "http_request_duration_seconds",
}
METRIC_RE = re.compile(r"\b(?:django_events|http)_[a-z_]+\b")


def referenced(expr):
    return {re.sub(r"_(bucket|count|sum)$", "", m) for m in METRIC_RE.findall(expr)}


def promtool(*args):
    tool = shutil.which("promtool")
    if not tool:
        pytest.fail("promtool not found: run deploy/tests/install-tools.sh")
    result = subprocess.run([tool, *args], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_check_rules():
    promtool("check", "rules", str(OBS / "rules.yml"))


def test_promtool_test_rules():
    """The alerts with a unit test (rules_test.yml) fire when it says and not before."""
    promtool("test", "rules", str(OBS / "rules_test.yml"))


def test_promtool_check_config(tmp_path):
    """Debian builds promtool without Kubernetes discovery, so the check runs on a copy whose discovery is
    static; every relabelling rule and the rule files are still checked."""
    config = yaml.safe_load((OBS / "prometheus.yml").read_text())
    for job in config["scrape_configs"]:
        assert job.pop("kubernetes_sd_configs") == [{"role": "pod"}]
        job["static_configs"] = [{"targets": []}]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    shutil.copy(OBS / "rules.yml", tmp_path / "rules.yml")
    promtool("check", "config", str(tmp_path / "prometheus.yml"))


def test_rules_cover_the_pipeline_with_known_metrics():
    rules = [r for g in yaml.safe_load((OBS / "rules.yml").read_text())["groups"] for r in g["rules"]]
    used = set().union(*(referenced(r["expr"]) for r in rules))
    assert used <= METRICS
    assert {"django_events_outbox_backlog", "django_events_outbox_oldest_age_seconds", "django_events_consumer_lag",
            "django_events_consumer_dead_lettered_total", "django_events_relay_failed_total", "http_requests_total",
            "django_events_dead_letter_oldest_age_seconds", "django_events_parked_keys"} <= used
    assert all(r["annotations"]["summary"] for r in rules)


def test_dashboard_uses_every_metric_and_no_other():
    dashboard = json.loads((OBS / "grafana" / "dashboards" / "platform.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    used = set().union(*(referenced(e) for e in exprs))
    assert used == METRICS
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])


def test_prometheus_scrapes_web_and_workers():
    jobs = {j["job_name"]: j for j in yaml.safe_load((OBS / "prometheus.yml").read_text())["scrape_configs"]}
    assert set(jobs) == {"polls-web", "polls-workers"}
    for job in jobs.values():
        assert job["honor_labels"] is True
        assert any(r.get("target_label") == "service" for r in job["relabel_configs"])


def instructions(path):
    text = re.sub(r"\\\n", " ", path.read_text())
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_shared_image_stages():
    lines = instructions(ROOT / "deploy" / "docker" / "python-service.Dockerfile")
    assert any(re.match(r"ARG PYTHON_IMAGE=python:3\.11[.\d]*-slim", line) for line in lines)
    assert "FROM ${PYTHON_IMAGE} AS builder" in lines and "FROM ${PYTHON_IMAGE} AS runtime" in lines
    runtime = lines[lines.index("FROM ${PYTHON_IMAGE} AS runtime"):]
    assert "USER 10001:10001" in runtime
    assert any(line.startswith("HEALTHCHECK") and "/healthz" in line for line in runtime)
    assert json.loads(runtime[-1].removeprefix("CMD "))[:2] == ["uvicorn", "config.asgi:application"]
    # X-Forwarded-For from loopback only, unless the chart names the gateway's pods.
    assert "ENV FORWARDED_ALLOW_IPS=127.0.0.1" in runtime
    assert "--forwarded-allow-ips" not in runtime[-1]
    assert "8000" in runtime[-1]
    # The libraries are each service's own, by version (test_service_dockerfile), never the tree's libs/.
    assert not any("libs/" in line for line in lines)


@pytest.mark.parametrize("service", SERVICES)
def test_service_dockerfile(service):
    lines = instructions(ROOT / "services" / service / "Dockerfile")
    assert lines[0] == "FROM python-service-builder AS build"
    assert f"COPY services/{service}/ /app/" in lines
    # The released wheels its pinned ranges pick (fleet/wheels.py), installed by file before the service.
    assert f"COPY .cache/service-wheels/{service}/ /wheels/" in lines
    assert ("RUN --mount=type=cache,target=/root/.cache/pip pip install /wheels/*.whl /src/contracts /app"
            " && python -m compileall -q /app") in lines
    assert not any("libs/" in line for line in lines)
    assert "FROM python-service-runtime" in lines
    assert not any(line.startswith(("USER", "CMD", "HEALTHCHECK")) for line in lines)  # inherited
    assert any(f'org.opencontainers.image.title="{service}"' in line for line in lines)
    assert (ROOT / "services" / service / "Dockerfile.dockerignore").exists()


def test_bake_builds_the_services_of_the_list():
    bake = (ROOT / "deploy" / "docker" / "docker-bake.hcl").read_text()
    assert "matrix     = { svc = compact(split(\" \", SERVICES)) }" in bake
    assert not any(f'"{service}"' in bake for service in SERVICES)  # no second list to keep in step
    images = (ROOT / "deploy" / "cluster" / "images.sh").read_text()  # `make images`, with buildah
    assert "python3 -m fleet services" in images
    assert "services=(" not in images  # no second list to keep in step
