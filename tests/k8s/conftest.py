"""The platform as `make deploy` installed it on the cluster of `make cluster-up`: GATEWAY_URL (127.0.0.1 only),
kubectl and helm on PATH, KUBECONFIG set (`make test-k8s` sets all of them)."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

NAMESPACE = os.environ.get("NAMESPACE", "polls")
SERVICES = ["auth-service", "polls-service", "choice-service", "vote-service"]


@dataclass
class Platform:
    url: str

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, **kwargs)


@pytest.fixture(scope="session")
def platform() -> Platform:
    url = os.environ.get("GATEWAY_URL", "")
    if not url:
        pytest.skip("GATEWAY_URL is not set: run `make test-k8s` (or `make deploy` and export what it prints)")
    # Load and fault traffic goes to this machine only.
    assert urlsplit(url).hostname == "127.0.0.1", url
    return Platform(url)


def run(*command: str, timeout: float = 600, env_extra: dict[str, str] | None = None) -> str:
    env = {**os.environ, **(env_extra or {})}
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    assert result.returncode == 0, f"{' '.join(command)}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def kubectl(*args: str, timeout: float = 300) -> str:
    return run("kubectl", "-n", NAMESPACE, *args, timeout=timeout)


def kubectl_json(*args: str) -> Any:
    return json.loads(kubectl(*args, "-o", "json"))


def releases() -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in json.loads(run("helm", "list", "-n", NAMESPACE, "-o", "json"))}


def wait_until(condition: Callable[[], Any], what: str, timeout: float = 300, interval: float = 2) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(interval)


def probe_pod(name: str, namespace: str, labels: dict[str, str], image: str) -> None:
    """A pod of the given labels that sleeps, from which tests try what those labels may reach."""
    manifest = {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "restartPolicy": "Never", "automountServiceAccountToken": False,
            "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{
                "name": "probe", "image": image, "imagePullPolicy": "Never", "command": ["sleep", "3600"],
                "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "128Mi"}},
            }],
        },
    }
    applied = subprocess.run(["kubectl", "apply", "-f", "-"], input=json.dumps(manifest), text=True,
                             capture_output=True, timeout=60)
    assert applied.returncode == 0, applied.stderr


def web_pod(service: str) -> str:
    """A running web pod of the service."""
    pods = kubectl_json("get", "pods", "-l", f"app.kubernetes.io/instance={service},app.kubernetes.io/component=web",
                        "--field-selector", "status.phase=Running")
    return str(pods["items"][0]["metadata"]["name"])


@contextmanager
def probe_pods(prefix: str, outside: str) -> Iterator[dict[str, tuple[str, str]]]:
    """Three probe pods outside the set the NetworkPolicies admit, ready, as {kind: (pod, namespace)}:
    "unlabelled" in the platform's namespace, "gateway-labels" there (the gateway's pod labels), and
    "other-namespace" wearing vote-service's web labels in the namespace `outside` (created, and deleted after)."""
    pod = kubectl_json("get", "pods", "-l", "app.kubernetes.io/instance=vote-service,app.kubernetes.io/component=web")
    image = str(pod["items"][0]["spec"]["containers"][0]["image"])
    gateway = kubectl_json("get", "pods", "-l", "app.kubernetes.io/name=gateway")["items"][0]["metadata"]["labels"]
    suffix = uuid.uuid4().hex[:6]
    pods = {
        "unlabelled": (f"{prefix}-bare-{suffix}", NAMESPACE, {}),
        "gateway-labels": (f"{prefix}-gw-{suffix}", NAMESPACE,
                           {k: v for k, v in gateway.items() if k != "pod-template-hash"}),
        "other-namespace": (f"{prefix}-out-{suffix}", outside,
                            {"app.kubernetes.io/name": "vote-service", "app.kubernetes.io/instance": "vote-service",
                             "app.kubernetes.io/component": "web", "app.kubernetes.io/part-of": "polls"}),
    }
    run("sh", "-c", f"kubectl create namespace {outside} --dry-run=client -o yaml | kubectl apply -f -")
    try:
        for name, namespace, labels in pods.values():
            probe_pod(name, namespace, labels, image)
        for name, namespace, _ in pods.values():
            run("kubectl", "-n", namespace, "wait", "--for=condition=Ready", f"pod/{name}", "--timeout=180s", timeout=200)
        yield {kind: (name, namespace) for kind, (name, namespace, _) in pods.items()}
    finally:
        for name, namespace, _ in pods.values():
            run("kubectl", "-n", namespace, "delete", "pod", name, "--ignore-not-found", "--wait=false")
        run("kubectl", "delete", "namespace", outside, "--ignore-not-found", "--wait=false")


# Which of the targets ("host:port") a pod can open a TCP connection to, as JSON {"host:port": true|false}. A
# refused packet is dropped by the policy, so a short timeout decides; DNS is tried apart so that a lookup failure
# is not taken for it.
REACH = """
import json, socket, sys
result = {}
for target in sys.argv[1:]:
    host, port = target.rsplit(":", 1)
    address = socket.gethostbyname(host)
    try:
        socket.create_connection((address, int(port)), timeout=3).close()
        result[target] = True
    except OSError:
        result[target] = False
print(json.dumps(result))
"""


def reach(pod: str, namespace: str, *targets: str) -> dict[str, bool]:
    """Which of the targets ("host:port") the pod opens a TCP connection to."""
    out = run("kubectl", "-n", namespace, "exec", pod, "--", "python", "-c", REACH, *targets, timeout=120)
    result: dict[str, bool] = json.loads(out.strip().splitlines()[-1])
    return result
