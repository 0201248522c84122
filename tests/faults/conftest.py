"""The platform on the suite's own PostgreSQL and Kafka, its voters, and the table of what each case measured."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.cases import CaseResult, Owner
from tests.faults.load import Voter, make_voters, register_all
from tests.faults.platform import ROOT, Platform, start_platform, stop_platform

VOTERS = int(os.environ.get("FAULTS_VOTERS", 300))
RESULTS = ROOT / "bench" / "results" / "faults.json"
COLUMNS = [
    ("case", "case", 22), ("accepted", "accepted", 8), ("results_total", "results total", 13),
    ("total_votes", "total_votes", 11), ("lost", "lost", 4), ("duplicates_in_log", "resent", 6),
    ("applied_twice", "applied twice", 13),
    ("converge_seconds", "s to converge", 13), ("retries", "retries", 7), ("restarts", "restarts", 20),
]
_results: list[CaseResult] = []


def _missing_tools() -> list[str]:
    return [tool for tool in ("ip", "iptables", "java", "mvn") if shutil.which(tool) is None] + (
        [] if Path("/usr/lib/postgresql").is_dir() else ["postgresql"]
    )


@pytest.fixture(scope="session")
def platform() -> Iterator[Platform]:
    if os.geteuid() != 0:
        pytest.fail("the fault suite needs root: it makes a network namespace and runs PostgreSQL as postgres")
    if missing := _missing_tools():
        pytest.fail(f"the fault suite needs {', '.join(missing)} (.ci/run installs them)")
    started = start_platform()
    try:
        yield started
    finally:
        stop_platform(started)


@pytest.fixture(scope="session")
def voters(platform: Platform) -> list[Voter]:
    voters = make_voters(VOTERS)
    register_all(voters, platform.gateway)
    return voters


@pytest.fixture(scope="session")
def owner(platform: Platform) -> Owner:
    return Owner.registered(platform.gateway)


@pytest.fixture
def record() -> Iterator[list[CaseResult]]:
    recorded: list[CaseResult] = []
    yield recorded
    _results.extend(recorded)


def table(results: list[CaseResult]) -> str:
    lines = ["  ".join(title.rjust(width) if key != "case" else title.ljust(width) for key, title, width in COLUMNS)]
    for result in results:
        row = result.row()
        lines.append("  ".join(
            str(row[key]).rjust(width) if key != "case" else str(row[key]).ljust(width) for key, _, width in COLUMNS
        ))
    return "\n".join(lines)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _results:
        return
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps([r.row() | r.details() for r in _results], indent=2) + "\n")
    terminalreporter.write_sep("=", "fault cases")
    terminalreporter.write_line(table(_results))
    terminalreporter.write_line(f"written to {RESULTS.relative_to(ROOT)}")
