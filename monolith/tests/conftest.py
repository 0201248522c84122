import pytest


@pytest.fixture(autouse=True)
def contracts_checked(settings):
    """Every event a test publishes must satisfy its contract."""
    settings.DJANGO_EVENTS = {**settings.DJANGO_EVENTS, "VALIDATE_PUBLISHED": True}


@pytest.fixture
def publishing(settings):
    settings.MONOLITH_EVENTS = "publish"
