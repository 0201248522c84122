"""Each fault under a steady vote load: nothing accepted is lost, nothing is applied twice."""

from __future__ import annotations

import pytest

from tests.faults.cases import CASES, CaseResult, Owner, run_case
from tests.faults.load import Voter
from tests.faults.platform import Platform


@pytest.mark.parametrize("name", list(CASES))
def test_fault(name: str, platform: Platform, voters: list[Voter], owner: Owner, record: list[CaseResult]) -> None:
    fault, seconds = CASES[name]
    result = run_case(platform, voters, owner, name, fault, seconds)
    record.append(result)
    outcome = result.outcome
    assert outcome.gave_up == 0 and not outcome.refused and outcome.already_voted == 0, result.details()
    assert result.accepted == outcome.sent > 0, result.details()
    assert result.lost == 0, result.row() | result.details()
    assert result.applied_twice == 0, result.row() | result.details()
    assert result.converge_seconds is not None, f"the counts did not agree: {result.counts}"
