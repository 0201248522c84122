from pathlib import Path

import event_contracts

from service_kit.settings import common_settings, database_from_env

BASE_DIR = Path(__file__).resolve().parent.parent.parent

globals().update(common_settings(service="vote-service", base_dir=BASE_DIR))

INSTALLED_APPS += ["votes"]  # noqa: F821 - defined by common_settings

ROOT_URLCONF = "config.urls"

DATABASES = {"default": database_from_env(name="vote_service", sqlite_path=BASE_DIR / "var/db.sqlite3")}

# What this service publishes is checked against the platform's event contracts (VALIDATE_PUBLISHED, in tests).
DJANGO_EVENTS = {**DJANGO_EVENTS, "CONTRACTS": str(event_contracts.CATALOGUE.directory)}  # noqa: F821

SPECTACULAR_SETTINGS = {
    **globals().get("SPECTACULAR_SETTINGS", {}),
    "TITLE": "vote-service",
    "DESCRIPTION": "Votes and poll results",
    "VERSION": "0.1.0",
}
