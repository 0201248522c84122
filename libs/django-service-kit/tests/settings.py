"""Minimal settings: the kit alone (django-events is not needed), PostgreSQL from DATABASE_URL."""

import os
import sys
from typing import Any
from urllib.parse import urlparse

import django

from service_kit.testing import TEST_JWT_SETTINGS

_PAIR = f"py{sys.version_info[0]}{sys.version_info[1]}_django{django.VERSION[0]}{django.VERSION[1]}"
_url = urlparse(os.environ.get("DATABASE_URL", "postgresql://polls:polls@127.0.0.1:5432/polls"))

SECRET_KEY = "service-kit-tests"
DEBUG = False
ALLOWED_HOSTS = ["testserver"]
USE_TZ = True
ROOT_URLCONF = "tests.urls"
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "rest_framework", "drf_spectacular", "service_kit"]
MIDDLEWARE = ["service_kit.middleware.MetricsMiddleware", "django.middleware.common.CommonMiddleware"]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "service_kit",
        "USER": _url.username,
        "PASSWORD": _url.password,
        "HOST": _url.hostname,
        "PORT": _url.port or 5432,
        # One per Python x Django pair: the support matrix runs its sessions at once against one server.
        "TEST": {"NAME": f"test_service_kit_{_PAIR}"},
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["service_kit.auth.JWTAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["service_kit.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "service_kit.errors.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["service_kit.throttling.ScopedRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"scoped": "1000/min", "tight": "2/min"},
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SERVICE_KIT: dict[str, Any] = {
    "SERVICE": "kit-tests",
    "JWT": TEST_JWT_SETTINGS,
}
