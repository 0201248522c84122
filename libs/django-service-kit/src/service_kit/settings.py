"""Settings helpers so each service's ``config/settings/base.py`` holds only what is its own."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}

POSTGRES_SCHEMES = {"postgres", "postgresql", "postgresql+psycopg", "pgsql"}

DEFAULT_THROTTLE_RATES = {"burst": "120/min", "sustained": "20000/day", "scoped": "60/min"}


def env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    normalized = value.strip().lower()
    if normalized in _TRUE:
        return True
    if normalized in _FALSE:
        return False
    raise ValueError(f"{name}={value!r} is not a boolean (use true/false)")


def env_list(name: str, default: list[str] | None = None, *, separator: str = ",") -> list[str]:
    value = os.environ.get(name)
    if value is None:
        return list(default or [])
    return [item.strip() for item in value.split(separator) if item.strip()]


def env_rates(name: str, default: dict[str, str]) -> dict[str, str]:
    """``scope=rate`` pairs, e.g. ``THROTTLE_RATES="burst=60/min,votes=10/min"``, over the defaults."""
    rates = dict(default)
    for pair in env_list(name):
        scope, separator, rate = pair.partition("=")
        if not separator or not scope.strip() or not rate.strip():
            raise ValueError(f"{name}: {pair!r} is not scope=rate")
        rates[scope.strip()] = rate.strip()
    return rates


def throttle_classes() -> list[str]:
    """Burst, sustained and the view's scope, counted in one statement per request; ``RATE_LIMITS_TOGETHER=false``
    counts them one transaction each, as the kit did before (to measure one beside the other)."""
    if env_bool("RATE_LIMITS_TOGETHER", True):
        return ["service_kit.throttling.CallerRateThrottles"]
    return [f"service_kit.throttling.{name}" for name in ("BurstRateThrottle", "SustainedRateThrottle", "ScopedRateThrottle")]


def rate_limits_on() -> bool:
    """``RATE_LIMITS=off`` lifts every throttle, for a fuzzing run that sends thousands of requests from one
    address; the gateway reads the same variable. Anything but on/off is refused rather than guessed."""
    value = (env("RATE_LIMITS", "on") or "on").strip().lower()
    if value not in {"on", "off"}:
        raise ValueError(f"RATE_LIMITS={value!r}: use on or off")
    return value == "on"


def database_from_env(*, name: str, sqlite_path: str | Path) -> dict[str, Any]:
    """``DATABASES["default"]``: PostgreSQL from ``DATABASE_URL``, its database name used as written (``name``
    only names the test database when the URL has none), else a SQLite file for a first look without a server.
    Giving each service its own database is the deployment's job (the charts' secrets, ``make run``)."""
    url = os.environ.get("DATABASE_URL")
    if not url:
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(sqlite_path),
            # The web process, relay and consumer share the file: WAL lets readers run beside the writer, and
            # IMMEDIATE transactions wait for the write lock up front instead of failing half-way.
            "OPTIONS": {
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
            "TEST": {"NAME": None},
        }
    parts = urlsplit(url)
    if parts.scheme not in POSTGRES_SCHEMES:
        raise ValueError(f"DATABASE_URL must be postgresql://..., not {parts.scheme}://")
    # As many connections as a web process has threads (service_kit.asgi), so a request never waits for one.
    pool_size = int(env("DATABASE_POOL_SIZE") or env("WEB_THREADS") or 8)
    database = dj_database_url.parse(
        urlunsplit(parts._replace(scheme="postgresql")),
        # Pooled instead of persistent: Django refuses both at once.
        conn_max_age=0,
        # No check query before each loan (a round trip per request): a connection the server dropped fails one
        # request, is discarded by the pool on its return, and the client's retry gets a fresh one.
        conn_health_checks=env_bool("DATABASE_HEALTH_CHECKS", False),
    )
    # Django's psycopg pool: a request borrows a connection and returns it, never opens one.
    database["OPTIONS"] = {**database.get("OPTIONS", {}), "pool": {"min_size": 1, "max_size": pool_size, "timeout": 10}}
    database["NAME"] = database["NAME"] or name
    database["PORT"] = str(database["PORT"] or 5432)
    database["TEST"] = {"NAME": f"test_{database['NAME']}"}
    return dict(database)


def database_url_for(url: str, name: str) -> str:
    """``url`` with its database name replaced by ``name``: how ``make run`` and the test targets give each
    service its own database on the one server that ``DATABASE_URL`` names."""
    return urlunsplit(urlsplit(url)._replace(path="/" + quote(name)))


# How a service reaches a broker that wants TLS or SASL: environment variable -> confluent-kafka setting.
KAFKA_CLIENT_ENV = {
    "KAFKA_SECURITY_PROTOCOL": "security.protocol",
    "KAFKA_SASL_MECHANISM": "sasl.mechanism",
    "KAFKA_SASL_USERNAME": "sasl.username",
    "KAFKA_SASL_PASSWORD": "sasl.password",
    "KAFKA_SSL_CA_LOCATION": "ssl.ca.location",
}


def kafka_client_from_env() -> dict[str, str]:
    return {setting: value for name, setting in KAFKA_CLIENT_ENV.items() if (value := env(name))}


def kafka_consumer_from_env() -> dict[str, int]:
    """KAFKA_SESSION_TIMEOUT_MS: how long the group waits for a consumer that stopped heartbeating (a crash) before
    its partitions go to another member, or to its restarted self (librdkafka's default: 45 s)."""
    timeout = env("KAFKA_SESSION_TIMEOUT_MS")
    return {"session.timeout.ms": int(timeout)} if timeout else {}


def legacy_envelope_from_env() -> bool:
    """EVENTS_LEGACY_ENVELOPE=off: events are CloudEvents alone, once no consumer of django-events 0.1 reads the
    topics (django-events' LEGACY_ENVELOPE). Anything but on/off is refused rather than guessed."""
    value = (env("EVENTS_LEGACY_ENVELOPE", "on") or "on").strip().lower()
    if value not in {"on", "off"}:
        raise ValueError(f"EVENTS_LEGACY_ENVELOPE={value!r}: use on or off")
    return value == "on"


def public_keys_from_env(name: str = "JWT_PUBLIC_KEYS") -> list[str | dict[str, Any]]:
    """Trusted public keys given inline: a JSON JWKS document / list of JWKs, or one or more PEM blocks."""
    value = (env(name) or "").strip()
    if not value:
        return []
    if value[0] in "[{":
        document = json.loads(value)
        return list(document["keys"] if isinstance(document, dict) else document)
    end = "-----END PUBLIC KEY-----"
    return [block.strip() + "\n" + end + "\n" for block in value.split(end) if block.strip()]


def logging_config(*, service: str, level: str | None = None) -> dict[str, Any]:
    """JSON logs tagged with the service's name, at ``level`` or $LOG_LEVEL (INFO)."""
    level = (level or env("LOG_LEVEL", "INFO") or "INFO").upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": "service_kit.logging.RequestIdFilter", "service": service}},
        "formatters": {"json": {"()": "service_kit.logging.JsonFormatter"}},
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": "json", "filters": ["request_id"]},
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django": {"handlers": ["console"], "level": level, "propagate": False},
            # Django logs every 4xx as a warning; our JSON error bodies already tell the client.
            "django.request": {"handlers": ["console"], "level": "ERROR", "propagate": False},
        },
    }


def public_url_from_env() -> str:
    """PUBLIC_URL, the gateway's address as clients use it (page links start with it); refused at start when it
    is no plain http(s)://host[:port][/path] (a typo must not reach every page link)."""
    value = (env("PUBLIC_URL", "") or "").strip()
    if not value:
        return ""
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.netloc or parts.query or parts.fragment:
        raise ImproperlyConfigured(f"PUBLIC_URL must look like https://polls.example.com, not {value!r}")
    return value.rstrip("/")


def common_settings(
    *,
    service: str,
    base_dir: str | Path,
    urlconf: str = "config.urls",
    events: bool = False,
    jwt_issuer: str | None = None,
    jwt_audience: str | None = None,
) -> dict[str, Any]:
    """The settings every service shares, by name; a service's ``base.py`` reads them from ``service_kit.defaults``.

    ``events=True`` adds django-events (its app, its correlation-id middleware and ``DJANGO_EVENTS`` from the
    environment); without it nothing of django-events is named, so a project that does not install it works.
    ``jwt_issuer``/``jwt_audience`` are the deployment's defaults for ``$JWT_ISSUER``/``$JWT_AUDIENCE``: the kit
    has none of its own, and verifying a token without both is refused (``ImproperlyConfigured``)."""
    base_dir = Path(base_dir)
    debug = env_bool("DEBUG", False)
    shared: dict[str, Any] = {
        "BASE_DIR": base_dir,
        # The services keep no sessions and sign nothing with it (tokens are RS256), so a per-process key is
        # safe when none is configured; one is still read so signed values could survive restarts later.
        "SECRET_KEY": env("DJANGO_SECRET_KEY") or secrets.token_urlsafe(50),
        "DEBUG": debug,
        "ALLOWED_HOSTS": env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"]),
        "ROOT_URLCONF": urlconf,
        "ASGI_APPLICATION": "config.asgi.application",
        "INSTALLED_APPS": [
            "django.contrib.contenttypes",
            "django.contrib.auth",
            "rest_framework",
            "drf_spectacular",
            "service_kit",
        ],
        "MIDDLEWARE": [
            "service_kit.middleware.MetricsMiddleware",
            # An ETag on every GET answer, 304 for an unchanged one (service_kit.caching).
            "django.middleware.http.ConditionalGetMiddleware",
            "django.middleware.security.SecurityMiddleware",
            "django.middleware.common.CommonMiddleware",
        ],
        "TEMPLATES": [],
        "USE_TZ": True,
        "TIME_ZONE": "UTC",
        "LANGUAGE_CODE": "en-us",
        "USE_I18N": False,
        "DEFAULT_AUTO_FIELD": "django.db.models.BigAutoField",
        "STATIC_URL": "static/",
        "APPEND_SLASH": False,
        "LOGGING": logging_config(service=service, level=(env("LOG_LEVEL", "INFO") or "INFO").upper()),
        "REST_FRAMEWORK": {
            "DEFAULT_AUTHENTICATION_CLASSES": ["service_kit.auth.JWTAuthentication"],
            "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
            "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
            "DEFAULT_PARSER_CLASSES": ["service_kit.parsers.JSONParser"],
            "DEFAULT_PAGINATION_CLASS": "service_kit.pagination.Pagination",
            "PAGE_SIZE": 20,
            "EXCEPTION_HANDLER": "service_kit.errors.exception_handler",
            "DEFAULT_THROTTLE_CLASSES": throttle_classes() if rate_limits_on() else [],
            "DEFAULT_THROTTLE_RATES": env_rates("THROTTLE_RATES", DEFAULT_THROTTLE_RATES),
            # REMOTE_ADDR is the client already: uvicorn takes X-Forwarded-For from FORWARDED_ALLOW_IPS (the gateway)
            # only. DRF reading the header itself would believe it from anyone who reaches the service.
            "NUM_PROXIES": 0,
            "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
            "TEST_REQUEST_DEFAULT_FORMAT": "json",
        },
        "SPECTACULAR_SETTINGS": {
            "TITLE": service,
            "VERSION": "0.1.0",
            "SERVE_INCLUDE_SCHEMA": False,
            "COMPONENT_SPLIT_REQUEST": True,
            # The services validate a PATCH body with the same serializer as declared, not a partial one: the
            # schema keeps its required fields instead of documenting every field of a PATCH as optional.
            "COMPONENT_SPLIT_PATCH": False,
            # Without it the prefix common to a service's paths is cut, and /api/votes/ is operation "root_create".
            "SCHEMA_PATH_PREFIX": r"/api/",
            "POSTPROCESSING_HOOKS": [
                "drf_spectacular.hooks.postprocess_schema_enums",
                "service_kit.schema.document_error_responses",
            ],
            "APPEND_COMPONENTS": {
                "securitySchemes": {"jwtAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}
            },
        },
        "SERVICE_KIT": {
            "SERVICE": service,
            "PUBLIC_URL": public_url_from_env(),
            "JWT": {
                "ISSUER": env("JWT_ISSUER") or jwt_issuer,
                "AUDIENCE": env("JWT_AUDIENCE") or jwt_audience,
                "JWKS_URL": env("JWT_JWKS_URL", "") or None,
                "JWKS_MAX_AGE_SECONDS": float(env("JWT_JWKS_MAX_AGE_SECONDS", "3600") or 3600),
                "PUBLIC_KEYS": public_keys_from_env(),
            },
        },
    }
    if events:
        shared["INSTALLED_APPS"].insert(shared["INSTALLED_APPS"].index("service_kit"), "django_events")
        # After SecurityMiddleware, so a request it refuses carries no correlation id it never used.
        middleware = shared["MIDDLEWARE"]
        middleware.insert(middleware.index("django.middleware.security.SecurityMiddleware") + 1,
                          "django_events.middleware.CorrelationIdMiddleware")
        shared["DJANGO_EVENTS"] = events_settings_from_env(service)
    return shared


def events_settings_from_env(service: str) -> dict[str, Any]:
    """``DJANGO_EVENTS`` of a service from the environment (``common_settings(events=True)`` sets it).

    EVENTS_TRANSPORT=rabbitmq puts the service's events on RabbitMQ ($RABBITMQ_URL) instead of Kafka. The consumer
    group is django-events' default, TOPIC_PREFIX + SERVICE: set after SERVICE, it follows it."""
    return {
        "SERVICE": service,
        "TRANSPORT": env("EVENTS_TRANSPORT", "kafka") or "kafka",
        "TOPIC_PREFIX": env("KAFKA_TOPIC_PREFIX", "") or "",
        "TOPIC_REPLICATION_FACTOR": int(env("KAFKA_REPLICATION_FACTOR", "1") or 1),
        "CLIENT": kafka_client_from_env(),
        "CONSUMER": kafka_consumer_from_env(),
        "LEGACY_ENVELOPE": legacy_envelope_from_env(),
        # A quarter of a web process's threads (service_kit.asgi) may wait for a read model at once: requests
        # for ids nobody created never hold the rest (django-events' README, READ_MODEL_WAITERS).
        "READ_MODEL_WAITERS": int(env("READ_MODEL_WAITERS") or max(1, int(env("WEB_THREADS") or 8) // 4)),
        # How long such a request waits; unset, django-events' default.
        **({"READ_MODEL_WAIT": float(wait)} if (wait := env("READ_MODEL_WAIT")) else {}),
    }
