"""Django settings of the django-events benchmark: its own database and topics on the real infrastructure."""

import json
import os
from urllib.parse import urlparse

_url = urlparse(os.environ.get("DATABASE_URL", "postgresql://polls:polls@127.0.0.1:5432/polls"))

SECRET_KEY = "django-events-bench"
USE_TZ = True
INSTALLED_APPS = ["django.contrib.contenttypes", "django_events", "events_app"]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ.get("BENCH_DATABASE", "bench_events"),
        "USER": _url.username,
        "PASSWORD": _url.password,
        "HOST": _url.hostname,
        "PORT": _url.port or 5432,
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}
# infra/infra.sh's Kafka authenticates (SASL/SCRAM): the benchmark connects as its administrator, who may create
# and use the benchmark's ad-hoc topics and groups.
_KAFKA_CLIENT = {
    setting: os.environ[name]
    for name, setting in [("KAFKA_SECURITY_PROTOCOL", "security.protocol"), ("KAFKA_SASL_MECHANISM", "sasl.mechanism"),
                          ("KAFKA_SASL_USERNAME", "sasl.username"), ("KAFKA_SASL_PASSWORD", "sasl.password")]
    if os.environ.get(name)
}
DJANGO_EVENTS = {"SERVICE": "bench", "CLIENT": _KAFKA_CLIENT, **json.loads(os.environ.get("DJANGO_EVENTS_OVERRIDES", "{}"))}
