import os
from pathlib import Path

import event_contracts
import read_models.users
from event_contracts.service_defaults import *
from service_kit.settings import database_from_env, logging_config

SERVICE = "polls-service"
BASE_DIR = Path(__file__).resolve().parent.parent.parent

# read_models.users: the platform's read model of auth-service's users, which django-service-kit's token check
# asks (a deleted user's token, or a revoked session's, is refused).
INSTALLED_APPS = [*INSTALLED_APPS, "read_models.users", "polls"]
LOGGING = logging_config(service=SERVICE)
SERVICE_KIT = read_models.users.checking_tokens({**SERVICE_KIT, "SERVICE": SERVICE})

DATABASES = {"default": database_from_env(name="polls_service", sqlite_path=BASE_DIR / "var/db.sqlite3")}

# What this service publishes is checked against the platform's event contracts (VALIDATE_PUBLISHED, in tests);
# what it consumes is refused unless it comes from its type's owner there (OWNERS).
# While the polls seam moves out of a monolith (docs/migration.md), MIGRATING_FROM is the `source` of the
# monolith's events: its poll.created are believed beside this service's own and imported here (the backfill and
# the shadow); its vote.cast are believed too, and acknowledged without counting (polls/projections.py). Empty
# once the migration is over.
MIGRATING_FROM = os.environ.get("MIGRATING_FROM", "")
MIGRATING_FAMILIES = ("poll", "vote")
DJANGO_EVENTS = {**DJANGO_EVENTS, "SERVICE": SERVICE, "CONTRACTS": str(event_contracts.CATALOGUE.directory),
                 "OWNERS": event_contracts.owners_while_migrating(MIGRATING_FROM, MIGRATING_FAMILIES)}

SPECTACULAR_SETTINGS = {
    **SPECTACULAR_SETTINGS,
    "TITLE": SERVICE,
    "DESCRIPTION": "Polls: create, change, close; total_votes from a projection of vote.cast",
    "VERSION": "0.1.0",
}
