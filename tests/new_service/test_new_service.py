"""`make new-service` end to end, in a scratch clone: generate a service, run its tests alone in a virtualenv of
its own, start the platform with it (`dev/run.py`, on the embedded default) and see its projection hold a poll
created through the gateway."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import fleet
from tests.e2e.conftest import eventually, interrupt, register_and_login, wait_for_ready_line

ROOT = Path(__file__).resolve().parents[2]
NAME = "comments"
GATEWAY_PORT = int(os.environ.get("NEW_SERVICE_GATEWAY_PORT", 18400))
BROKER_PORT = int(os.environ.get("NEW_SERVICE_BROKER_PORT", 19400))
INFRASTRUCTURE = {"DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "KAFKA_TOPIC_PREFIX", "VIRTUAL_ENV"}


def run(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return result.stdout


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A scratch clone with the generated service, exactly as `make new-service NAME=comments` leaves it."""
    clone = tmp_path_factory.mktemp("new-service") / "platform"
    run(["git", "clone", "-q", str(ROOT), str(clone)], ROOT)
    run([sys.executable, "dev/new_service.py", NAME], clone)
    # The virtualenvs of the services on a Python of their own, as `make venv` made them here (dev/run.py starts
    # those services from there), as the clone's own.
    if (ROOT / ".venvs" / "dev").is_dir():
        (clone / ".venvs").mkdir(exist_ok=True)
        (clone / ".venvs" / "dev").symlink_to(ROOT / ".venvs" / "dev")
    return clone


def test_it_is_generated_in_the_house_shape_and_listed(clone: Path) -> None:
    service = clone / "services" / f"{NAME}-service"
    for path in ["pyproject.toml", "Dockerfile", "README.md", "config/settings/prod.py", "comments/projections.py",
                 "comments/migrations/0001_initial.py", "comments/tests/apis", "comments/tests/projections"]:
        assert (service / path).exists(), path
    assert (clone / "deploy" / "helm" / f"{NAME}-service" / "values.yaml").exists()
    listed = fleet.parse((clone / "services.toml").read_text(), root=clone)
    assert listed[-1] == fleet.Service(name=NAME, prefix=f"/api/{NAME}/", port=8005, database=f"{NAME}_service")
    events = (clone / "docs" / "events.md").read_text()
    assert "`comment.created`" in events
    [poll_created] = [row for row in events.splitlines() if row.startswith("| `poll.created` |")]
    assert f"{NAME}-service" in poll_created.split("|")[-2]  # among the consumers of what it reads
    run([sys.executable, "-m", "pytest", "-q", "tests"], clone / "contracts")  # its contract is recorded


def _chart_files(chart: Path) -> set[str]:
    files = (p.relative_to(chart) for p in chart.rglob("*") if p.is_file())
    return {str(f) for f in files if f.parts[0] != "charts"}  # charts/: the dependency `helm dependency build` fetches


def test_its_chart_has_the_teams_shape_and_passes_the_charts_tests(clone: Path) -> None:
    """Shaped like every team's chart (deploy/helm/vote-service): the library chart's defaults imported and a
    values.yaml of only what differs; then deploy/tests on it: helm lint, the rendered objects against the
    Kubernetes schemas, the values, and the gateway chart's nginx.conf rendered again with the new route."""
    charts = clone / "deploy" / "helm"
    assert _chart_files(charts / f"{NAME}-service") == _chart_files(charts / "vote-service")
    helm = os.environ.get("HELM") or shutil.which("helm")
    assert helm, "helm not found: put deploy/tests/install-tools.sh's folder on PATH (make test-new-service does)"
    selected = f"{NAME} or test_services_list or rendered_routing_table"
    out = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "deploy/tests", "-k", selected], clone,
              env={**os.environ, "HELM": helm})
    assert " passed" in out and "failed" not in out


def test_it_passes_the_lint_and_type_gate(clone: Path) -> None:
    tools = Path(sys.executable).parent
    run([str(tools / "ruff"), "check", f"services/{NAME}-service", "contracts"], clone)
    # The clone's contracts before the development virtualenv's (this checkout's): they hold the new service's
    # payload module (event_contracts/comment_events.py), which `make venv` in the clone would install.
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test", "PYTHONPATH": f".:{clone / 'contracts'}"}
    mypy = [str(tools / "mypy"), "--config-file", str(clone / "mypy.ini"), "."]
    run(mypy, clone / "services" / f"{NAME}-service", env=env)


@pytest.fixture(scope="module")
def service_python(clone: Path) -> str:
    """The Python of a virtualenv holding only the generated service, the contracts and the libraries' released
    wheels its pinned ranges pick from this checkout's index (`make release-libs`), as `make test-services` does."""
    venv = clone / ".venvs" / f"{NAME}-service"
    run(["uv", "venv", "-q", "-p", sys.executable, str(venv)], clone)
    wheels = run([sys.executable, "-m", "fleet.wheels", "--index", str(ROOT / "dist" / "index"), "--root", str(clone),
                  f"{NAME}-service"], ROOT).split()
    assert any("django_reliable_events-" in wheel for wheel in wheels), wheels
    packages = [*wheels, "./contracts", f"services/{NAME}-service"]
    python = str(venv / "bin" / "python")
    run(["uv", "pip", "install", "-q", "--python", python, *packages, "pytest", "pytest-django"], clone)
    return python


def test_its_tests_pass_alone_in_a_virtualenv_of_its_own(clone: Path, service_python: str) -> None:
    out = run([service_python, "-m", "pytest", "-q"], clone / "services" / f"{NAME}-service", env=dict(os.environ))
    assert " passed" in out and "failed" not in out


def test_its_read_model_keeps_a_question_as_long_as_polls_service_accepts_on_postgresql(
    clone: Path, service_python: str
) -> None:
    """A read model's column sized below the contract dead-letters the event on PostgreSQL (SQLite keeps any
    length): the generated service projects poll.created with a 300-character question, on `make infra-up`'s
    PostgreSQL, and keeps it whole."""
    assert os.environ.get("DATABASE_URL", "").startswith("postgresql://"), "run through make test-new-service"
    test = "test_a_question_as_long_as_polls_service_accepts_is_kept_whole"
    out = run([service_python, "-m", "pytest", "-q", f"{NAME}/tests/projections/test_poll_view_projection.py::{test}",
               f"{NAME}/tests/projections/test_read_models_hold_their_contracts.py"],
              clone / "services" / f"{NAME}-service", env=dict(os.environ))
    assert " passed" in out and "failed" not in out and "skipped" not in out


@pytest.fixture(scope="module")
def platform(clone: Path) -> Iterator[str]:
    env = {k: v for k, v in os.environ.items() if k not in INFRASTRUCTURE}
    env["PYTHONPATH"] = str(clone / "contracts")  # the clone's contracts, with the new service's payloads, first
    log = clone / "run.log"
    command = [sys.executable, "dev/run.py", "--port", str(GATEWAY_PORT), "--broker-port", str(BROKER_PORT)]
    with open(log, "wb") as out:
        runner = subprocess.Popen(command, cwd=clone, env=env, stdout=out, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    try:
        wait_for_ready_line(runner, log, timeout=240)
        yield f"http://127.0.0.1:{GATEWAY_PORT}"
    finally:
        interrupt(runner)
        runner.wait(60)


def test_it_joins_the_platform_and_its_projection_holds_a_new_poll(platform: str) -> None:
    with httpx.Client(base_url=platform, timeout=10) as client:
        alice = register_and_login(client, "alice-new-service")
        # On the fresh embedded broker the consumers join their groups some seconds after "ready:", which may be
        # past polls-service's wait for a user it has not heard of: retried while it refuses her token (401).
        poll = eventually(lambda: client.post("/api/polls/", json={"question": "Tea or coffee?"}, headers=alice),
                          until=lambda r: r.status_code != 401, timeout=120)
        assert poll.status_code == 201, poll.text
        poll_id = poll.json()["id"]

        seen = eventually(lambda: client.get(f"/api/{NAME}/polls/{poll_id}/"), until=lambda r: r.status_code == 200)
        assert seen.status_code == 200, seen.text
        assert seen.json()["question"] == "Tea or coffee?"

        comment = client.post(f"/api/{NAME}/", json={"poll_id": poll_id, "text": "Tea"}, headers=alice)
        assert comment.status_code == 201, comment.text
        listed = client.get(f"/api/{NAME}/", params={"poll_id": poll_id})
        assert [c["text"] for c in listed.json()["results"]] == ["Tea"]
