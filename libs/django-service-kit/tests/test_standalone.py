"""The kit in a Django project that does not use django-events at all: its defaults name nothing of it, and the
project checks, migrates nothing of it and serves with django_events impossible to import. The token issuer and
audience are the project's to give: without them no token is verified."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from service_kit.auth import verify_access_token
from service_kit.testing import make_token

LIBRARY = Path(__file__).resolve().parent.parent

PROJECT = """
import sys

sys.modules["django_events"] = None  # import django_events now raises ImportError, as if never installed

from service_kit.defaults import *  # noqa: F403

ROOT_URLCONF = "tests.urls"
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
SERVICE_KIT = {**SERVICE_KIT, "SERVICE": "standalone", "JWT": {**SERVICE_KIT["JWT"], "ISSUER": "https://auth.example",
               "AUDIENCE": "standalone", "PUBLIC_KEYS": ["unused"]}}
"""

CHECK = """
import django
from django.core.management import call_command
from django.test import Client

django.setup()
call_command("check", fail_level="WARNING")
call_command("migrate", verbosity=0)
from django.apps import apps
assert not [app for app in apps.get_app_configs() if "events" in app.name]
response = Client().get("/healthz")
print(response.status_code)
"""


def test_the_kit_works_in_a_project_without_django_events(tmp_path):
    (tmp_path / "standalone_settings.py").write_text(textwrap.dedent(PROJECT))
    result = subprocess.run(
        [sys.executable, "-c", CHECK], cwd=LIBRARY, capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{tmp_path}:{LIBRARY}",
             "DJANGO_SETTINGS_MODULE": "standalone_settings"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "200", result.stdout


def test_no_token_is_verified_without_an_issuer_and_an_audience(settings):
    token = make_token(user_id="8a6e0804-2bd0-4672-b79d-d97027f9071a", username="ada")
    settings.SERVICE_KIT = {**settings.SERVICE_KIT, "JWT": {**settings.SERVICE_KIT["JWT"], "AUDIENCE": None}}
    with pytest.raises(ImproperlyConfigured, match="AUDIENCE"):
        verify_access_token(token)
