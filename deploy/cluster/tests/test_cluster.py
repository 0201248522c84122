"""Smoke test of the cluster `make cluster-up` starts and the images `make images` imports: the node is Ready, a pod
resolves a Service's name through cluster DNS and reaches it, a NodePort answers on loopback, metrics-server serves
resource metrics. Run after `make cluster-up images`:

    python -m pytest -q deploy/cluster/tests
"""

import json
import os
import pathlib
import subprocess
import time
import urllib.request
import uuid

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
CLUSTER = ROOT / "deploy" / "cluster"


def _cluster_env():
    lines = subprocess.run(["bash", str(CLUSTER / "cluster.sh"), "env"], capture_output=True, text=True, check=True)
    exports = dict(line.removeprefix("export ").split("=", 1) for line in lines.stdout.splitlines())
    return exports["KUBECONFIG"], exports["PATH"].split(":", 1)[0]


KUBECONFIG, BIN = _cluster_env()
IMAGE = next(
    line
    for line in subprocess.run(
        ["bash", str(CLUSTER / "images.sh"), "list"], capture_output=True, text=True, check=True
    ).stdout.split()
    if "/vote-service:" in line
)


def kubectl(*args, check=True, input=None, timeout=180):
    result = subprocess.run(
        [f"{BIN}/kubectl", *args],
        capture_output=True,
        text=True,
        input=input,
        timeout=timeout,
        env={**os.environ, "KUBECONFIG": KUBECONFIG},
    )
    if check and result.returncode != 0:
        pytest.fail(f"kubectl {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def poll(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(2)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture(scope="module")
def namespace():
    name = f"cluster-smoke-{uuid.uuid4().hex[:6]}"
    kubectl("create", "namespace", name)
    yield name
    kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture(scope="module")
def web(namespace):
    """One of our images serving HTTP behind a NodePort Service named `web`."""
    manifest = {
        "apiVersion": "v1",
        "kind": "List",
        "items": [
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "web"},
                "spec": {
                    "selector": {"matchLabels": {"app": "web"}},
                    "template": {
                        "metadata": {"labels": {"app": "web"}},
                        "spec": {
                            "containers": [
                                {
                                    "name": "web",
                                    "image": IMAGE,
                                    "imagePullPolicy": "Never",
                                    "command": ["python", "-m", "http.server", "8080", "--directory", "/app"],
                                    "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 2},
                                }
                            ]
                        },
                    },
                },
            },
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "web"},
                "spec": {"type": "NodePort", "selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
            },
        ],
    }
    kubectl("-n", namespace, "apply", "-f", "-", input=json.dumps(manifest))
    kubectl("-n", namespace, "rollout", "status", "deployment/web", "--timeout=180s", timeout=200)
    return json.loads(kubectl("-n", namespace, "get", "service", "web", "-o", "json").stdout)


def test_node_is_ready():
    nodes = json.loads(kubectl("get", "nodes", "-o", "json").stdout)["items"]
    assert len(nodes) == 1
    conditions = {c["type"]: c["status"] for c in nodes[0]["status"]["conditions"]}
    assert conditions["Ready"] == "True"
    assert nodes[0]["status"]["nodeInfo"]["kubeletVersion"] == "v1.30.14"


def test_a_pod_resolves_and_reaches_a_service_by_name(namespace, web):
    # Retried for a minute, as any client would: DNS and kube-proxy's rules catch up with a new Service a moment
    # after its pod is Ready (a loaded node takes seconds).
    script = f"""
import socket, time, urllib.request as u
deadline = time.monotonic() + 60
while True:
    try:
        answers = [socket.gethostbyname('web.{namespace}.svc.cluster.local'), socket.gethostbyname('web'),
                   u.urlopen('http://web/manage.py', timeout=10).status]
        break
    except OSError:
        if time.monotonic() > deadline:
            raise
        time.sleep(1)
print(*answers)
"""
    kubectl(
        "-n", namespace, "run", "client", "--restart=Never", f"--image={IMAGE}", "--image-pull-policy=Never",
        "--command", "--", "python", "-c", script,
    )

    def finished():
        phase = kubectl("-n", namespace, "get", "pod", "client", "-o", "jsonpath={.status.phase}").stdout
        return phase in ("Succeeded", "Failed") and phase

    phase = poll(finished, 180, "the client pod to finish")
    run = kubectl("-n", namespace, "logs", "client")
    assert phase == "Succeeded", run.stdout
    assert run.stdout.split() == [web["spec"]["clusterIP"], web["spec"]["clusterIP"], "200"]


def test_a_node_port_answers_on_loopback(web):
    port = web["spec"]["ports"][0]["nodePort"]

    def answers():
        try:
            return urllib.request.urlopen(f"http://127.0.0.1:{port}/manage.py", timeout=5).status == 200
        except OSError:
            return False

    poll(answers, 60, f"NodePort {port} on 127.0.0.1")


def test_metrics_server_serves_node_and_pod_metrics():
    def node_metrics():
        result = kubectl("get", "--raw", "/apis/metrics.k8s.io/v1beta1/nodes", check=False)
        return result.returncode == 0 and json.loads(result.stdout)["items"]

    assert poll(node_metrics, 180, "node metrics from metrics-server")[0]["usage"]["cpu"]
    pods = json.loads(kubectl("get", "--raw", "/apis/metrics.k8s.io/v1beta1/namespaces/kube-system/pods").stdout)
    assert {pod["metadata"]["name"].split("-")[0] for pod in pods["items"]} >= {"coredns"}
