"""Every read model here holds the largest events its contracts allow (read_models.limits): a question as long as
polls-service accepts is kept, not dead-lettered for a column too short."""

import pytest
from django_events.projection import projections
from event_contracts import CATALOGUE
from read_models.limits import contract_overflows

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("projection", projections(), ids=lambda projection: projection.name)
def test_each_read_model_holds_the_largest_events_its_contracts_allow(projection):
    assert contract_overflows(projection, CATALOGUE) == []
