import os
from pathlib import Path

import event_contracts
import read_models.users
from event_contracts.service_defaults import *
from service_kit.settings import database_from_env, logging_config

SERVICE = "choice-service"
BASE_DIR = Path(__file__).resolve().parent.parent.parent

# read_models.users: the platform's read model of auth-service's users, which django-service-kit's token check
# asks (a deleted user's token, or a revoked session's, is refused).
INSTALLED_APPS = [*INSTALLED_APPS, "read_models.users", "choices"]
LOGGING = logging_config(service=SERVICE)
SERVICE_KIT = read_models.users.checking_tokens({**SERVICE_KIT, "SERVICE": SERVICE})

DATABASES = {"default": database_from_env(name="choice_service", sqlite_path=BASE_DIR / "var/db.sqlite3")}

# What this service publishes is checked against the platform's event contracts (VALIDATE_PUBLISHED, in tests);
# what it consumes is refused unless it comes from its type's owner there (OWNERS).
# While the choices seam moves out of a monolith (docs/migration.md), MIGRATING_FROM is the `source` of the
# monolith's events: its polls and choices are believed beside their owners', and its choice.created are imported
# here (the backfill and the shadow). Empty once the migration is over.
MIGRATING_FROM = os.environ.get("MIGRATING_FROM", "")
DJANGO_EVENTS = {**DJANGO_EVENTS, "SERVICE": SERVICE, "CONTRACTS": str(event_contracts.CATALOGUE.directory),
                 "OWNERS": event_contracts.owners_while_migrating(MIGRATING_FROM, ("poll", "choice"))}

SPECTACULAR_SETTINGS = {
    **SPECTACULAR_SETTINGS,
    "TITLE": SERVICE,
    "DESCRIPTION": "Choices of a poll; who may add them comes from a projection of poll events",
    "VERSION": "0.1.0",
}
