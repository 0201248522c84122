"""The monolith baseline of bench/votes_bench.py: polls, choices and votes in one project and one database, on the
services' shared settings (same middleware, JWT verification, error bodies, pool and threads), without events."""

from pathlib import Path

from service_kit.settings import common_settings, database_from_env

BASE_DIR = Path(__file__).resolve().parent.parent

globals().update(common_settings(service="monolith", base_dir=BASE_DIR, urlconf="monolith.urls"))

# django_events stays installed only to create the known-users table the token check reads; nothing is published.
INSTALLED_APPS += ["monolith.polls", "monolith.choices", "monolith.votes"]  # noqa: F821 - from common_settings
MIDDLEWARE = [m for m in MIDDLEWARE if not m.startswith("django_events.")]  # noqa: F821

DATABASES = {"default": database_from_env(name="bench_monolith", sqlite_path=BASE_DIR / "var/db.sqlite3")}
