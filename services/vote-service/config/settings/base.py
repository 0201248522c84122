import os
from pathlib import Path

import event_contracts
import read_models.users
from event_contracts.service_defaults import *
from service_kit.settings import database_from_env, env_bool, logging_config

SERVICE = "vote-service"
BASE_DIR = Path(__file__).resolve().parent.parent.parent

# read_models.users: the platform's read model of auth-service's users, which django-service-kit's token check
# asks (a deleted user's token, or a revoked session's, is refused).
INSTALLED_APPS = [*INSTALLED_APPS, "read_models.users", "votes"]
LOGGING = logging_config(service=SERVICE)
SERVICE_KIT = read_models.users.checking_tokens({**SERVICE_KIT, "SERVICE": SERVICE})

ROOT_URLCONF = "config.urls"

DATABASES = {"default": database_from_env(name="vote_service", sqlite_path=BASE_DIR / "var/db.sqlite3")}

# Group commit (votes.batching), VOTES_BATCH=on: the votes a web process's requests cast at the same moment are
# recorded by one committer in one transaction and one commit, each request answered after it. Off by default:
# measured beside each vote in its own transaction it saved PostgreSQL work but no votes/s (bench/README.md).
# The committer borrows a connection from the pool that the waiting requests gave theirs back to.
VOTES = {"BATCH": env_bool("VOTES_BATCH", False)}

# What this service publishes is checked against the platform's event contracts (VALIDATE_PUBLISHED, in tests);
# what it consumes is refused unless it comes from its type's owner there (OWNERS). No per-key commit order: every
# vote of a poll is keyed by the poll, so its lock would make a viral poll's votes commit one at a time, and
# nothing needs it: vote.cast events of a poll add up in any order, and a vote.voided is published only after
# its vote.cast has committed (votes_void_after_close waits for every vote in flight).
# While the votes seam moves out of a monolith (docs/migration.md), MIGRATING_FROM is the `source` of the
# monolith's events: its polls, choices and votes are believed beside their owners', and its vote.cast are counted
# here (the backfill and the shadow). Empty once the migration is over.
MIGRATING_FROM = os.environ.get("MIGRATING_FROM", "")
DJANGO_EVENTS = {**DJANGO_EVENTS, "SERVICE": SERVICE, "CONTRACTS": str(event_contracts.CATALOGUE.directory),
                 "OWNERS": event_contracts.owners_while_migrating(MIGRATING_FROM, ("poll", "choice", "vote")),
                 "KEY_COMMIT_ORDER": False}

SPECTACULAR_SETTINGS = {
    **SPECTACULAR_SETTINGS,
    "TITLE": SERVICE,
    "DESCRIPTION": "Votes and poll results",
    "VERSION": "0.1.0",
}
