"""The test settings on SQLite (file from $DJANGO_EVENTS_SQLITE): one relay, claiming outside a write transaction."""

import os

from tests.settings import *  # noqa: F403

# As the services configure it (service_kit's database_from_env): WAL, and write transactions that take the
# file's one write lock as they begin.
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("DJANGO_EVENTS_SQLITE", ":memory:"),
        "OPTIONS": {"init_command": "PRAGMA journal_mode=WAL;", "transaction_mode": "IMMEDIATE", "timeout": 20},
    }
}
