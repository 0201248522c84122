"""The monolith's one codebase deployed as its votes process (DJANGO_SETTINGS_MODULE=monolith.settings_votes): it
serves the votes paths alone, so they scale and deploy apart; it keeps the one database and schema, and every app
stays installed, as the apps' models still reference one another there (docs/migration.md)."""

from monolith.settings import *  # noqa: F403

ROOT_URLCONF = "monolith.urls_votes"
SERVICE_KIT = {**SERVICE_KIT, "SERVICE": "monolith-votes"}  # noqa: F405
LOGGING = logging_config(service="monolith-votes")  # noqa: F405
