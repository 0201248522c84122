"""`make run` (dev/run.py): the base settings as they are. Without DATABASE_URL or KAFKA_BOOTSTRAP_SERVERS they
already fall back to development's SQLite file and local broker, so nothing is overridden here."""

from .base import *
