"""The same faults against `make run` itself, on its embedded default (SQLite files, the Tansu broker): a relay, a
consumer, a web process, the broker and the supervisor SIGKILLed under a vote load; nothing accepted is lost,
nothing is applied twice."""

from __future__ import annotations

import pytest

from tests.faults.cases import MAKE_RUN_CASES, CaseResult, Owner, check, run_case
from tests.faults.load import Voter
from tests.faults.make_run import MakeRun

PLATFORM = "make_run"


@pytest.mark.parametrize("name", list(MAKE_RUN_CASES))
def test_make_run_fault(name: str, platform: MakeRun, voters: list[Voter], owner: Owner, record: list[CaseResult]) -> None:
    record.append(result := run_case(platform, voters, owner, name, *MAKE_RUN_CASES[name]))
    check(result)
