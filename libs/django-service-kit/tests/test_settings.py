from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from service_kit.settings import common_settings, database_from_env, database_url_for, env_bool, env_list, env_rates


def test_database_from_env_uses_the_database_named_in_the_url(monkeypatch):
    """The charts give each service a secret whose URL names its own database: it must be used as written."""
    monkeypatch.setenv("DATABASE_URL", "postgresql://polls:p%40ss@db.internal:6543/votes_eu?sslmode=require")

    database = database_from_env(name="vote_service", sqlite_path="/tmp/x.sqlite3")

    assert database["ENGINE"] == "django.db.backends.postgresql"
    assert (database["NAME"], database["USER"], database["PASSWORD"]) == ("votes_eu", "polls", "p@ss")
    assert (database["HOST"], database["PORT"]) == ("db.internal", "6543")
    # Pooled, as many connections as a web process has threads; Django refuses a pool with persistent ones.
    assert database["OPTIONS"] == {"sslmode": "require", "pool": {"min_size": 1, "max_size": 8, "timeout": 10}}
    assert database.get("CONN_MAX_AGE", 0) == 0
    assert database["TEST"] == {"NAME": "test_votes_eu"}


def test_database_from_env_names_the_database_after_the_service_when_the_url_has_none(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://polls@db.internal")

    database = database_from_env(name="vote_service", sqlite_path="/tmp/x.sqlite3")

    assert (database["NAME"], database["PORT"]) == ("vote_service", "5432")


def test_database_url_for_replaces_only_the_database_name():
    url = "postgresql://polls:p%40ss@db.internal:6543/polls?sslmode=require"

    assert database_url_for(url, "vote_service") == "postgresql://polls:p%40ss@db.internal:6543/vote_service?sslmode=require"
    assert database_url_for("postgres://db.internal", "auth_service") == "postgres://db.internal/auth_service"


def test_database_from_env_falls_back_to_sqlite(monkeypatch, tmp_path):
    monkeypatch.delenv("DATABASE_URL", raising=False)

    database = database_from_env(name="vote_service", sqlite_path=tmp_path / "db.sqlite3")

    assert database["ENGINE"] == "django.db.backends.sqlite3"
    assert database["NAME"] == str(tmp_path / "db.sqlite3")


def test_database_from_env_refuses_another_database_kind(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "mysql://x@y/z")

    with pytest.raises(ValueError, match="postgresql"):
        database_from_env(name="vote_service", sqlite_path="x")


def test_env_helpers(monkeypatch):
    monkeypatch.setenv("FLAG", "yes")
    monkeypatch.setenv("HOSTS", "a.example, b.example,")
    monkeypatch.setenv("RATES", "burst=5/min, votes=1/sec")

    assert env_bool("FLAG") is True
    assert env_bool("MISSING", True) is True
    assert env_list("HOSTS") == ["a.example", "b.example"]
    assert env_rates("RATES", {"burst": "1/min", "sustained": "9/day"}) == {
        "burst": "5/min", "sustained": "9/day", "votes": "1/sec"
    }
    monkeypatch.setenv("FLAG", "maybe")
    with pytest.raises(ValueError):
        env_bool("FLAG")


def test_common_settings_wire_the_kit_alone_with_no_events_and_no_issuer_of_its_own(monkeypatch):
    monkeypatch.setenv("JWT_JWKS_URL", "http://auth-service/api/auth/jwks/")
    monkeypatch.delenv("JWT_ISSUER", raising=False)
    monkeypatch.delenv("JWT_AUDIENCE", raising=False)

    shared = common_settings(service="vote-service", base_dir=Path("/srv/vote"))

    assert {"rest_framework", "drf_spectacular", "service_kit"} <= set(shared["INSTALLED_APPS"])
    assert not [name for name in [*shared["INSTALLED_APPS"], *shared["MIDDLEWARE"]] if "events" in name]
    assert "DJANGO_EVENTS" not in shared
    assert shared["MIDDLEWARE"][0] == "service_kit.middleware.MetricsMiddleware"
    assert shared["REST_FRAMEWORK"]["EXCEPTION_HANDLER"] == "service_kit.errors.exception_handler"
    assert shared["REST_FRAMEWORK"]["DEFAULT_AUTHENTICATION_CLASSES"] == ["service_kit.auth.JWTAuthentication"]
    assert shared["SERVICE_KIT"]["JWT"] == {
        "ISSUER": None,
        "AUDIENCE": None,
        "JWKS_URL": "http://auth-service/api/auth/jwks/",
        "JWKS_MAX_AGE_SECONDS": 3600.0,
        "PUBLIC_KEYS": [],
    }
    assert shared["SERVICE_KIT"]["PUBLIC_URL"] == ""
    assert shared["ROOT_URLCONF"] == "config.urls"


def test_common_settings_with_events_and_the_deployments_issuer(monkeypatch):
    monkeypatch.delenv("JWT_ISSUER", raising=False)
    monkeypatch.setenv("JWT_AUDIENCE", "from-env")

    shared = common_settings(service="vote-service", base_dir=Path("/srv/vote"), events=True,
                             jwt_issuer="https://auth.example", jwt_audience="default-audience")

    assert shared["INSTALLED_APPS"].index("django_events") < shared["INSTALLED_APPS"].index("service_kit")
    middleware = shared["MIDDLEWARE"]
    assert middleware[middleware.index("django.middleware.security.SecurityMiddleware") + 1] == (
        "django_events.middleware.CorrelationIdMiddleware")
    assert shared["DJANGO_EVENTS"]["SERVICE"] == "vote-service"
    # The environment overrides the project's defaults.
    assert (shared["SERVICE_KIT"]["JWT"]["ISSUER"], shared["SERVICE_KIT"]["JWT"]["AUDIENCE"]) == (
        "https://auth.example", "from-env")


def test_public_url_is_a_plain_base_or_refused_at_start(monkeypatch):
    monkeypatch.setenv("PUBLIC_URL", "https://polls.example.com/")
    assert common_settings(service="vote-service", base_dir=Path("/srv/vote"))["SERVICE_KIT"]["PUBLIC_URL"] == (
        "https://polls.example.com"
    )
    for bad in ("polls.example.com", "ftp://polls.example.com", "https://polls.example.com/?next=evil", "https://"):
        monkeypatch.setenv("PUBLIC_URL", bad)
        with pytest.raises(ImproperlyConfigured):
            common_settings(service="vote-service", base_dir=Path("/srv/vote"))


def test_kafka_tls_sasl_and_replication_from_env(monkeypatch):
    for name, value in {"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
                        "KAFKA_SASL_USERNAME": "vote", "KAFKA_SASL_PASSWORD": "s3cret",
                        "KAFKA_SSL_CA_LOCATION": "/ca.crt", "KAFKA_REPLICATION_FACTOR": "3"}.items():
        monkeypatch.setenv(name, value)

    events = common_settings(service="vote-service", base_dir=Path("/srv/vote"), events=True)["DJANGO_EVENTS"]

    assert events["TOPIC_REPLICATION_FACTOR"] == 3
    assert events["CLIENT"] == {"security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512",
                                "sasl.username": "vote", "sasl.password": "s3cret", "ssl.ca.location": "/ca.crt"}
    assert events["CONSUMER"] == {}  # librdkafka's own session timeout


def test_the_consumers_session_timeout_from_env(monkeypatch):
    monkeypatch.setenv("KAFKA_SESSION_TIMEOUT_MS", "10000")

    events = common_settings(service="vote-service", base_dir=Path("/srv/vote"), events=True)["DJANGO_EVENTS"]

    assert events["CONSUMER"] == {"session.timeout.ms": 10000}


def test_a_quarter_of_the_web_threads_may_wait_for_a_read_model_unless_told(monkeypatch):
    def waiters() -> int:
        return int(common_settings(service="x", base_dir=Path("/tmp"), events=True)["DJANGO_EVENTS"]["READ_MODEL_WAITERS"])

    monkeypatch.delenv("WEB_THREADS", raising=False)
    assert waiters() == 2
    monkeypatch.setenv("WEB_THREADS", "2")
    assert waiters() == 1
    monkeypatch.setenv("READ_MODEL_WAITERS", "0")
    assert waiters() == 0


def test_the_read_model_wait_is_django_events_default_unless_told(monkeypatch):
    def events() -> dict:
        return dict(common_settings(service="x", base_dir=Path("/tmp"), events=True)["DJANGO_EVENTS"])

    monkeypatch.delenv("READ_MODEL_WAIT", raising=False)
    assert "READ_MODEL_WAIT" not in events()
    monkeypatch.setenv("READ_MODEL_WAIT", "0.5")
    assert events()["READ_MODEL_WAIT"] == 0.5


def test_rate_limits_off_lifts_the_throttles_and_a_typo_is_refused(monkeypatch):
    assert common_settings(service="x", base_dir=Path("/tmp"))["REST_FRAMEWORK"]["DEFAULT_THROTTLE_CLASSES"]
    monkeypatch.setenv("RATE_LIMITS", "off")
    assert common_settings(service="x", base_dir=Path("/tmp"))["REST_FRAMEWORK"]["DEFAULT_THROTTLE_CLASSES"] == []
    monkeypatch.setenv("RATE_LIMITS", "nope")
    with pytest.raises(ValueError, match="RATE_LIMITS"):
        common_settings(service="x", base_dir=Path("/tmp"))


def test_the_defaults_module_names_every_shared_setting():
    from service_kit import defaults

    shared = common_settings(service="x", base_dir=Path("/tmp"))
    assert {name for name in vars(defaults) if name.isupper() and not name.startswith("_")} == set(shared) - {"BASE_DIR"}


def test_events_carry_the_0_1_envelope_fields_until_told_otherwise(monkeypatch):
    monkeypatch.delenv("EVENTS_LEGACY_ENVELOPE", raising=False)
    assert legacy_envelope() is True
    monkeypatch.setenv("EVENTS_LEGACY_ENVELOPE", "off")
    assert legacy_envelope() is False
    monkeypatch.setenv("EVENTS_LEGACY_ENVELOPE", "maybe")
    with pytest.raises(ValueError, match="EVENTS_LEGACY_ENVELOPE"):
        legacy_envelope()


def legacy_envelope() -> bool:
    return bool(common_settings(service="v", base_dir=Path("/srv/v"), events=True)["DJANGO_EVENTS"]["LEGACY_ENVELOPE"])
