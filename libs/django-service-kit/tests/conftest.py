import pytest

from tests.views import CountedCreateApi


@pytest.fixture(autouse=True)
def _fresh_counted_view():
    CountedCreateApi.runs = []
    CountedCreateApi.delay_seconds = 0.0
    yield


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The kit needs no broker and its suite is quick: all of it is the smoke subset (-m smoke)."""
    for item in items:
        item.add_marker(pytest.mark.smoke)
