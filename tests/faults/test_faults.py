"""Each fault under a steady vote load, on the suite's own PostgreSQL and Kafka: nothing accepted is lost, nothing
is applied twice."""

from __future__ import annotations

import pytest

from tests.faults.cases import CASES, CaseResult, Owner, check, run_case
from tests.faults.load import Voter
from tests.faults.platform import Platform

PLATFORM = "postgresql_kafka"


@pytest.mark.parametrize("name", list(CASES))
def test_fault(name: str, platform: Platform, voters: list[Voter], owner: Owner, record: list[CaseResult]) -> None:
    # Recorded before it is checked: a failing case is in the table too.
    record.append(result := run_case(platform, voters, owner, name, *CASES[name]))
    check(result)
