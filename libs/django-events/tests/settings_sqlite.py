"""The test settings on SQLite (file from $DJANGO_EVENTS_SQLITE): a relay there polls instead of LISTEN."""

import os

from tests.settings import *  # noqa: F403

DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ.get("DJANGO_EVENTS_SQLITE", ":memory:")}}
