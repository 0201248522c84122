"""Each fault under a steady vote load, on the suite's own PostgreSQL and Kafka: nothing accepted is lost, nothing
is applied twice."""

from __future__ import annotations

import pytest

from tests.faults.cases import CASES, CaseResult, Owner, check, run_case
from tests.faults.load import Voter
from tests.faults.platform import Platform


@pytest.fixture(scope="module")
def platform(postgresql_kafka: Platform) -> Platform:
    return postgresql_kafka


@pytest.mark.parametrize("name", list(CASES))
def test_fault(name: str, platform: Platform, voters: list[Voter], owner: Owner, record: list[CaseResult]) -> None:
    fault, seconds = CASES[name]
    result = run_case(platform, voters, owner, name, fault, seconds)
    record.append(result)
    check(result)
