"""The monolith baseline of bench/votes_bench.py: polls, choices and votes in one project and one database, on the
services' shared settings (same middleware, JWT verification, error bodies, pool and threads), without events."""

from pathlib import Path

import read_models.users
from event_contracts.service_defaults import *  # noqa: F403
from service_kit.settings import database_from_env, logging_config

BASE_DIR = Path(__file__).resolve().parent.parent
ROOT_URLCONF = "monolith.urls"
LOGGING = logging_config(service="monolith")
# Tokens checked against the users read model, as vote-service checks them.
SERVICE_KIT = read_models.users.checking_tokens({**SERVICE_KIT, "SERVICE": "monolith"})  # noqa: F405
DJANGO_EVENTS = {**DJANGO_EVENTS, "SERVICE": "monolith"}  # noqa: F405  (its check asks for a name; nothing is sent)

# django_events stays installed but publishes nothing; read_models.users holds the known users the token check reads.
INSTALLED_APPS = [*INSTALLED_APPS, "read_models.users", "monolith.polls", "monolith.choices", "monolith.votes"]  # noqa: F405
MIDDLEWARE = [m for m in MIDDLEWARE if not m.startswith("django_events.")]  # noqa: F405

DATABASES = {"default": database_from_env(name="bench_monolith", sqlite_path=BASE_DIR / "var/db.sqlite3")}
