"""The platform as `make deploy` installed it on the cluster of `make cluster-up`: GATEWAY_URL (127.0.0.1 only),
kubectl and helm on PATH, KUBECONFIG set (`make test-k8s` sets all of them)."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
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
