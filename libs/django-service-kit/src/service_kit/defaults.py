"""The settings every service shares, as plain names: a service's ``config/settings/base.py`` starts with
``from service_kit.defaults import *`` and then names what is its own::

    SERVICE = "vote-service"
    INSTALLED_APPS = [*INSTALLED_APPS, "votes"]
    DATABASES = {"default": database_from_env(name="vote_service", sqlite_path=BASE_DIR / "var/db.sqlite3")}
    LOGGING = logging_config(service=SERVICE)
    SERVICE_KIT = {**SERVICE_KIT, "SERVICE": SERVICE}

``common_settings`` stays the one place the values are defined; this module names each of them once, so
linters and type checkers see every setting (a test checks that none is missing).

They are the kit's alone: no django-events (``common_settings(events=True)`` adds it) and no token issuer or
audience (``$JWT_ISSUER``, ``$JWT_AUDIENCE``, or the project's own defaults module built on ``common_settings``).
"""

from pathlib import Path

from .settings import common_settings

_SHARED = common_settings(service="", base_dir=Path.cwd())

SECRET_KEY = _SHARED["SECRET_KEY"]
DEBUG = _SHARED["DEBUG"]
ALLOWED_HOSTS = _SHARED["ALLOWED_HOSTS"]
ROOT_URLCONF = _SHARED["ROOT_URLCONF"]
ASGI_APPLICATION = _SHARED["ASGI_APPLICATION"]
INSTALLED_APPS = _SHARED["INSTALLED_APPS"]
MIDDLEWARE = _SHARED["MIDDLEWARE"]
TEMPLATES = _SHARED["TEMPLATES"]
USE_TZ = _SHARED["USE_TZ"]
TIME_ZONE = _SHARED["TIME_ZONE"]
LANGUAGE_CODE = _SHARED["LANGUAGE_CODE"]
USE_I18N = _SHARED["USE_I18N"]
DEFAULT_AUTO_FIELD = _SHARED["DEFAULT_AUTO_FIELD"]
STATIC_URL = _SHARED["STATIC_URL"]
APPEND_SLASH = _SHARED["APPEND_SLASH"]
LOGGING = _SHARED["LOGGING"]
REST_FRAMEWORK = _SHARED["REST_FRAMEWORK"]
SPECTACULAR_SETTINGS = _SHARED["SPECTACULAR_SETTINGS"]
SERVICE_KIT = _SHARED["SERVICE_KIT"]
