import os
import pathlib
import shutil
import subprocess

import pytest
import yaml

import fleet

ROOT = pathlib.Path(__file__).resolve().parents[2]
HELM_DIR = ROOT / "deploy" / "helm"
SERVICES = [service.service_name for service in fleet.load()]
PLATFORM_CHARTS = ["gateway", "postgresql", "kafka", "polls-platform"]
# The monolith the migration starts from (monolith/, docs/migration.md), on the services' library chart.
CHARTS = [*SERVICES, "monolith", *PLATFORM_CHARTS]
NON_DEFAULT = str(pathlib.Path(__file__).parent / "values" / "non-default.yaml")
GATEWAY_NON_DEFAULT = str(pathlib.Path(__file__).parent / "values" / "gateway-non-default.yaml")
MONOLITH_SEAMS = str(pathlib.Path(__file__).parent / "values" / "monolith-seams.yaml")
PLATFORM_NON_DEFAULT = str(pathlib.Path(__file__).parent / "values" / "platform-non-default.yaml")


def _helm():
    found = os.environ.get("HELM") or shutil.which("helm")
    if not found:
        pytest.fail("helm not found: run deploy/tests/install-tools.sh")
    return str(found)


HELM = _helm()


def helm(*args, check=True):
    result = subprocess.run([HELM, *args], capture_output=True, text=True)
    if check and result.returncode != 0:
        pytest.fail(f"helm {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture(scope="session", autouse=True)
def dependencies():
    for chart in CHARTS:  # the umbrella last: it packages the others
        helm("dependency", "update" if chart == "polls-platform" else "build", str(HELM_DIR / chart))


def render(chart, *args, release=None):
    out = helm("template", release or chart, str(HELM_DIR / chart), "--namespace", "polls", *args).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def pod_specs(objects):
    for obj in objects:
        if obj["kind"] in ("Deployment", "StatefulSet", "Job"):
            yield obj, obj["spec"]["template"]["spec"]
        elif obj["kind"] == "Pod":
            yield obj, obj["spec"]


def containers(objects):
    for obj, spec in pod_specs(objects):
        for container in spec.get("initContainers", []) + spec["containers"]:
            yield obj, spec, container


def env_of(container):
    return {e["name"]: e for e in container.get("env", [])}
