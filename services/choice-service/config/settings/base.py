from pathlib import Path

import event_contracts
from event_contracts.service_defaults import *
from service_kit.settings import database_from_env, logging_config

SERVICE = "choice-service"
BASE_DIR = Path(__file__).resolve().parent.parent.parent

INSTALLED_APPS = [*INSTALLED_APPS, "choices"]
LOGGING = logging_config(service=SERVICE)
SERVICE_KIT = {**SERVICE_KIT, "SERVICE": SERVICE}

DATABASES = {"default": database_from_env(name="choice_service", sqlite_path=BASE_DIR / "var/db.sqlite3")}

# What this service publishes is checked against the platform's event contracts (VALIDATE_PUBLISHED, in tests);
# what it consumes is refused unless it comes from its type's owner there (OWNERS).
DJANGO_EVENTS = {**DJANGO_EVENTS, "SERVICE": SERVICE, "CONTRACTS": str(event_contracts.CATALOGUE.directory),
                 "OWNERS": event_contracts.OWNERS}

SPECTACULAR_SETTINGS = {
    **SPECTACULAR_SETTINGS,
    "TITLE": SERVICE,
    "DESCRIPTION": "Choices of a poll; who may add them comes from a projection of poll events",
    "VERSION": "0.1.0",
}
