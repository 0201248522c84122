"""The platforms the cases strike (the suite's own on PostgreSQL and Kafka, and `make run` itself), their voters,
and the table of what each case measured."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.faults.cases import CaseResult, Owner
from tests.faults.load import Voter, make_voters, register_all
from tests.faults.make_run import MakeRun, start_make_run
from tests.faults.platform import ROOT, Platform, start_platform, stop_platform

RESULTS = ROOT / "bench" / "results" / "faults.json"
COLUMNS = [
    ("platform", "platform", 16), ("case", "case", 24), ("accepted", "accepted", 8), ("results_total", "results total", 13),
    ("total_votes", "total_votes", 11), ("lost", "lost", 4), ("duplicates_in_log", "resent", 6),
    ("applied_twice", "applied twice", 13),
    ("converge_seconds", "s to converge", 13), ("retries", "retries", 7), ("restarts", "restarts", 20),
]
LEFT_ALIGNED = {"platform", "case"}
_results: list[CaseResult] = []


def _missing_tools() -> list[str]:
    return [tool for tool in ("ip", "iptables", "java", "mvn") if shutil.which(tool) is None] + (
        [] if Path("/usr/lib/postgresql").is_dir() else ["postgresql"]
    )


@pytest.fixture(scope="module")
def postgresql_kafka() -> Iterator[Platform]:
    if os.geteuid() != 0:
        pytest.fail("the fault suite needs root: it makes a network namespace and runs PostgreSQL as postgres")
    if missing := _missing_tools():
        pytest.fail(f"the fault suite needs {', '.join(missing)} (.ci/run installs them)")
    started = start_platform()
    try:
        yield started
    finally:
        stop_platform(started)


@pytest.fixture(scope="module")
def make_run() -> Iterator[MakeRun]:
    started = start_make_run()
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="module")
def platform(request: pytest.FixtureRequest) -> Any:
    """The platform a test module strikes: the fixture its PLATFORM names."""
    return request.getfixturevalue(request.module.PLATFORM)


@pytest.fixture(scope="module")
def voters(platform: Any) -> list[Voter]:
    voters = make_voters(platform.voter_count)
    register_all(voters, platform.gateway)
    return voters


@pytest.fixture(scope="module")
def owner(platform: Any) -> Owner:
    return Owner.registered(platform.gateway)


@pytest.fixture
def record() -> Iterator[list[CaseResult]]:
    recorded: list[CaseResult] = []
    yield recorded
    _results.extend(recorded)


def table(rows: list[dict[str, Any]]) -> str:
    def line(values: dict[str, Any]) -> str:
        return "  ".join(
            str(values[key]).ljust(width) if key in LEFT_ALIGNED else str(values[key]).rjust(width) for key, _, width in COLUMNS
        )

    return "\n".join([line({key: title for key, title, _ in COLUMNS}), *(line(row) for row in rows)])


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _results:
        return
    # The rows of a platform this run did not strike stay as the last run that did left them.
    rows = [r.row() | r.details() for r in _results]
    struck = {row["platform"] for row in rows}
    kept = json.loads(RESULTS.read_text()) if RESULTS.exists() else []
    rows = [row for row in kept if "platform" in row and row["platform"] not in struck] + rows
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(rows, indent=2) + "\n")
    terminalreporter.write_sep("=", "fault cases")
    terminalreporter.write_line(table(rows))
    terminalreporter.write_line(f"written to {RESULTS.relative_to(ROOT)}")
