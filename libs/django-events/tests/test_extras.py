"""The brokers' clients are extras: a project that lacks the one its TRANSPORT needs is told which extra to install,
by `manage.py check` and when a worker starts, instead of a bare ModuleNotFoundError."""

import subprocess
import sys
from pathlib import Path

import pytest

LIBRARY = Path(__file__).resolve().parent.parent

WITHOUT = """
import sys

sys.modules[{client!r}] = None  # import {client} now raises ModuleNotFoundError, as if never installed

import django
from django.conf import settings

settings.configure(
    INSTALLED_APPS=["django_events"], DATABASES={{"default": {{"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}}},
    DJANGO_EVENTS={{"SERVICE": "shop", "TRANSPORT": {transport!r}}},
)
django.setup()
from django.core import checks

print(*[f"{{m.id}}: {{m.msg}} ({{m.hint}})" for m in checks.run_checks()], sep="\\n")
from django_events.transport import get_transport

get_transport()
"""


@pytest.mark.parametrize(("transport", "client"), [("kafka", "confluent_kafka"), ("rabbitmq", "pika")])
def test_a_missing_transport_client_names_its_extra(transport, client):
    result = subprocess.run([sys.executable, "-c", WITHOUT.format(transport=transport, client=client)], cwd=LIBRARY,
                            capture_output=True, text=True, timeout=300)

    extra = f'pip install "django-reliable-events[{transport}]"'
    assert f"django_events.E010: DJANGO_EVENTS['TRANSPORT'] is {transport!r} but {client} is not installed ({extra})" in (
        result.stdout)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last == (f"django_events._extras.MissingExtra: DJANGO_EVENTS[\"TRANSPORT\"] = \"{transport}\" needs the "
                    f"{client} package, which is not installed: {extra}"), result.stderr
