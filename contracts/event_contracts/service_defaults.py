"""The settings every service of the polls platform shares, on top of django-service-kit's: django-events on (the
services talk through events) and who issues the platform's tokens and for whom. A service that checks tokens
against the users read model adds it itself (``read_models.users``): auth-service owns the users and keeps none.
A service's ``config/settings/base.py`` starts with ``from event_contracts.service_defaults import *``.

The libraries know nothing of the platform: these are its own choices, in the package its services share.
"""

from pathlib import Path

from service_kit.defaults import *  # noqa: F403
from service_kit.settings import common_settings

# Tokens name the platform's public URL as `iss` (here the gateway of `make run`; a deployment sets $JWT_ISSUER)
# and the platform as `aud`.
_SHARED = common_settings(
    service="", base_dir=Path.cwd(), events=True, jwt_issuer="http://127.0.0.1:8000", jwt_audience="polls-platform"
)

INSTALLED_APPS = _SHARED["INSTALLED_APPS"]
MIDDLEWARE = _SHARED["MIDDLEWARE"]
DJANGO_EVENTS = _SHARED["DJANGO_EVENTS"]
SERVICE_KIT = _SHARED["SERVICE_KIT"]
