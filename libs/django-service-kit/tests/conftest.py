import pytest

from tests.views import CountedCreateApi


@pytest.fixture(autouse=True)
def _fresh_counted_view():
    CountedCreateApi.runs = []
    CountedCreateApi.delay_seconds = 0.0
    yield
