"""The kit with service_kit.users, which needs django-events: ``pytest --ds tests.settings_known_users``."""

from tests.settings import *  # noqa: F403
from tests.settings import DATABASES, INSTALLED_APPS, SERVICE_KIT

INSTALLED_APPS = [*INSTALLED_APPS, "django_events", "service_kit.users"]
DJANGO_EVENTS = {"SERVICE": "kit-tests"}
SERVICE_KIT = {
    **SERVICE_KIT,
    "JWT": {**SERVICE_KIT["JWT"], "TOKEN_CHECK": "service_kit.users.selectors.token_check"},
    # Short, so the test of an unknown user does not wait long; long enough to show the wait works.
    "KNOWN_USERS": {"WAIT_SECONDS": 1.0},
}
DATABASES = {"default": {**DATABASES["default"], "NAME": "service_kit_users", "TEST": {"NAME": "test_service_kit_users"}}}
