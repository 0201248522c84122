"""The polls monolith: polls, choices and votes in one Django project and one database, on the services' shared
settings (same middleware, JWT verification, error bodies, pool and threads) and the same public API.

It is where a team starts before the services (docs/migration.md) and bench/votes_bench.py's baseline.
MONOLITH_EVENTS chooses how far along the strangler path it is:
  off      (default) no event leaves: the monolith as it was;
  publish  its writes publish their events in the platform's contract shapes through django-events' outbox;
  consume  also: `manage.py events_consume` applies the events of the services its seams moved to (vote.cast,
           choice.*, poll.*), so its own pages stay right.
"""

import os
from pathlib import Path

import event_contracts
from event_contracts.service_defaults import *  # noqa: F403
from service_kit.settings import database_from_env, logging_config

SERVICE = "monolith"
BASE_DIR = Path(__file__).resolve().parent.parent
ROOT_URLCONF = "monolith.urls"
LOGGING = logging_config(service=SERVICE)
SERVICE_KIT = {**SERVICE_KIT, "SERVICE": SERVICE}  # noqa: F405

MONOLITH_EVENTS = os.environ.get("MONOLITH_EVENTS", "off").strip().lower()
if MONOLITH_EVENTS not in ("off", "publish", "consume"):
    raise ValueError(f"MONOLITH_EVENTS must be off, publish or consume, not {MONOLITH_EVENTS!r}")

# django_events is installed whatever MONOLITH_EVENTS says: its tables (outbox, inbox) and the known-users table the
# token check reads exist from the first deploy, so turning events on is a configuration change, not a migration.
INSTALLED_APPS = [*INSTALLED_APPS, "monolith.polls", "monolith.choices", "monolith.votes"]  # noqa: F405
MIDDLEWARE = [m for m in MIDDLEWARE if not m.startswith("django_events.")] if MONOLITH_EVENTS == "off" else MIDDLEWARE  # noqa: F405

DATABASES = {"default": database_from_env(name="monolith", sqlite_path=BASE_DIR / "var/db.sqlite3")}
if not os.environ.get("DATABASE_URL"):  # the SQLite file of `make run-monolith`, in an ignored folder
    (BASE_DIR / "var").mkdir(exist_ok=True)

# While a seam moves, its type's producers are its service and the monolith: the events the monolith applies
# (MONOLITH_EVENTS=consume) come from the services that took its seams' writes, or are its own coming back.
DJANGO_EVENTS = {**DJANGO_EVENTS, "SERVICE": SERVICE, "CONTRACTS": str(event_contracts.CATALOGUE.directory),  # noqa: F405
                 "OWNERS": event_contracts.owners_while_migrating(SERVICE, ("poll", "choice", "vote"))}
