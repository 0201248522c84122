import pytest

from tests.views import CountedCreateApi


@pytest.fixture(autouse=True)
def _fresh_counted_view():
    CountedCreateApi.runs = []
    CountedCreateApi.delay_seconds = 0.0
    yield


# The smoke subset (-m smoke), for the supported pairs that CI does not test in full: settings, the kit without
# django-events, authentication, error bodies and health, through Django's and DRF's request path.
SMOKE = {"test_settings", "test_standalone", "test_auth", "test_errors", "test_health"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.stem in SMOKE:
            item.add_marker(pytest.mark.smoke)
