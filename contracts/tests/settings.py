"""The read models in a project of their own: django-events, django-service-kit's token check filled with
read_models.users, and a service's poll read model (tests.pollapp). PostgreSQL from DATABASE_URL."""

import os
from typing import Any
from urllib.parse import urlparse

from service_kit.testing import TEST_JWT_SETTINGS

import read_models.users

_url = urlparse(os.environ.get("DATABASE_URL", "postgresql://polls:polls@127.0.0.1:5432/polls"))

SECRET_KEY = "read-models-tests"
DEBUG = False
ALLOWED_HOSTS = ["testserver"]
USE_TZ = True
ROOT_URLCONF = "tests.urls"
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "rest_framework",
    "django_events",
    "service_kit",
    "read_models.users",
    "tests.pollapp",
]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "read_models",
        "USER": _url.username,
        "PASSWORD": _url.password,
        "HOST": _url.hostname,
        "PORT": _url.port or 5432,
        "TEST": {"NAME": "test_read_models"},
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["service_kit.auth.JWTAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "service_kit.errors.exception_handler",
}
DJANGO_EVENTS = {"SERVICE": "read-models-tests"}
SERVICE_KIT: dict[str, Any] = read_models.users.checking_tokens({"SERVICE": "read-models-tests", "JWT": TEST_JWT_SETTINGS})
# Short, so the test of an unknown user does not wait long; long enough to show the wait works.
KNOWN_USERS = {"WAIT_SECONDS": 1.0}
