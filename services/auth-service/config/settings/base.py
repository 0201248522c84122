from datetime import timedelta
from pathlib import Path

import event_contracts
from event_contracts.service_defaults import *
from service_kit.settings import (
    DEFAULT_THROTTLE_RATES,
    database_from_env,
    env,
    env_list,
    env_rates,
    logging_config,
    rate_limits_on,
)

SERVICE = "auth-service"
BASE_DIR = Path(__file__).resolve().parent.parent.parent

# The users are this service's own table: it needs no read model of them (read_models.users).
INSTALLED_APPS = [*INSTALLED_APPS, "users", "login_limits"]
LOGGING = logging_config(service=SERVICE)

DATABASES = {"default": database_from_env(name="auth_service", sqlite_path=BASE_DIR / "var/db.sqlite3")}

# What this service publishes is checked against the platform's event contracts (VALIDATE_PUBLISHED, in tests);
# what it consumes is refused unless it comes from its type's owner there (OWNERS).
DJANGO_EVENTS = {**DJANGO_EVENTS, "SERVICE": SERVICE, "CONTRACTS": str(event_contracts.CATALOGUE.directory),
                 "OWNERS": event_contracts.OWNERS}

AUTH_USER_MODEL = "users.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_THROTTLE_RATES": env_rates(
        "THROTTLE_RATES",
        {
            **DEFAULT_THROTTLE_RATES,
            "auth_token": "20/min",
            "auth_refresh": "60/min",
            "auth_register": "20/min",
            # Per user: a stolen access token must not become a way to guess the current password quickly.
            "auth_password": "5/min",
        },
    ),
}

# Failed logins per account and per client address (IPv6 by /64), each past the free ones locking out for twice as
# long as the last (login_limits.conf has the defaults; `manage.py check` refuses nonsense).
LOGIN_LIMITS = {"ENABLED": rate_limits_on()}

# auth-service verifies its own access tokens (GET /me) from its own keys: fetching its JWKS over HTTP from
# inside a request could wait on itself.
# A token of a deleted or deactivated user, or of a session that ended, is refused by its own tables.
SERVICE_KIT = {
    **SERVICE_KIT,
    "SERVICE": SERVICE,
    "JWT": {
        **SERVICE_KIT["JWT"],
        "JWKS_URL": None,
        "JWKS_PROVIDER": "users.selectors.jwks_document",
        "TOKEN_CHECK": "users.selectors.token_check",
    },
}

JWT_SIGNING = {
    # Production: the mounted secret. Without it, development generates a key once into var/ (git-ignored).
    "PRIVATE_KEY_FILE": env("JWT_PRIVATE_KEY_FILE") or None,
    "GENERATED_PRIVATE_KEY_FILE": BASE_DIR / "var/jwt/private.pem",
    "GENERATE_IN_MEMORY": False,
    # Published beside the signing key: the next key before a rotation, the previous one after it.
    "EXTRA_PUBLIC_KEY_FILES": env_list("JWT_NEXT_PUBLIC_KEY_FILE"),
}

SIMPLE_JWT = {
    "ALGORITHM": "RS256",
    "ISSUER": SERVICE_KIT["JWT"]["ISSUER"],
    "AUDIENCE": SERVICE_KIT["JWT"]["AUDIENCE"],
    # Other services verify access tokens alone and learn of a revoked session from user.session_revoked; the
    # short lifetime bounds how long one outlives its session if that event is late.
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=5),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=1),
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
    "UPDATE_LAST_LOGIN": False,
    "LEEWAY": 10,
    # Never HS256 on SECRET_KEY: users.tokens signs with the RSA key of JWT_SIGNING.
    "SIGNING_KEY": None,
}

SPECTACULAR_SETTINGS = {
    **SPECTACULAR_SETTINGS,
    "TITLE": SERVICE,
    "DESCRIPTION": "Users, RS256 access tokens and the JWKS",
    "VERSION": "0.1.0",
}
