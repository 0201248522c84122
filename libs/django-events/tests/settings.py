import json
import os
import sys
from typing import Any
from urllib.parse import urlparse

import django

_PAIR = f"py{sys.version_info[0]}{sys.version_info[1]}_django{django.VERSION[0]}{django.VERSION[1]}"
_url = urlparse(os.environ.get("DATABASE_URL", "postgresql://polls:polls@127.0.0.1:5432/polls"))

SECRET_KEY = "django-events-tests"
USE_TZ = True
INSTALLED_APPS = ["django.contrib.contenttypes", "django_events", "tests.testapp"]
DATABASES: dict[str, dict[str, Any]] = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        # Worker subprocesses of the fault tests point at the test database through this variable.
        "NAME": os.environ.get("DJANGO_EVENTS_TEST_DATABASE", "django_events"),
        "USER": _url.username,
        "PASSWORD": _url.password,
        "HOST": _url.hostname,
        "PORT": _url.port or 5432,
        # One per Python x Django pair: the support matrix runs its sessions at once against one server.
        "TEST": {"NAME": f"test_django_events_{_PAIR}"},
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# A broker that authenticates (make infra-up's Kafka: SASL/SCRAM and ACLs) is reached as its administrator, who
# may use the tests' ad-hoc topics and groups.
_KAFKA_CLIENT = {
    setting: os.environ[name]
    for name, setting in [("KAFKA_SECURITY_PROTOCOL", "security.protocol"), ("KAFKA_SASL_MECHANISM", "sasl.mechanism"),
                          ("KAFKA_SASL_USERNAME", "sasl.username"), ("KAFKA_SASL_PASSWORD", "sasl.password")]
    if os.environ.get(name)
}
DJANGO_EVENTS = {"SERVICE": "testapp", "RETRY_BACKOFF": 0.01, "RETRIES": 2, "CLIENT": _KAFKA_CLIENT,
    # A killed consumer's partitions move to the survivor after this, not after the 45 s default.
    "CONSUMER": {"session.timeout.ms": 6000, "heartbeat.interval.ms": 1000},
    **json.loads(os.environ.get("DJANGO_EVENTS_OVERRIDES", "{}"))}
