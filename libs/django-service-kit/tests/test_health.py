import pytest

from service_kit import views

pytestmark = pytest.mark.django_db


def test_healthz_answers_without_checking_anything(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_checks_the_database(client):
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"database": "ok"}}


def test_readyz_is_503_when_a_dependency_is_down(client, monkeypatch):
    monkeypatch.setattr(views, "readiness", lambda: (False, {"database": "ok", "broker": "unreachable"}))

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["status"] == "not_ready"


def test_readyz_does_not_wait_on_the_broker(client, settings):
    """Writes go to the outbox while the broker is away: the web process stays in the Service."""
    pytest.importorskip("django_events", reason="the kit alone (django-events not installed)")
    settings.INSTALLED_APPS = [*settings.INSTALLED_APPS, "django_events"]
    settings.DJANGO_EVENTS = {"BOOTSTRAP_SERVERS": "127.0.0.1:1"}

    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok"}


def test_metrics_count_requests_by_route_method_and_status(client):
    client.get("/healthz")
    client.get("/nowhere/")

    response = client.get("/metrics")

    assert response.status_code == 200
    text = response.content.decode()
    assert 'http_requests_total{method="GET",route="healthz",service="kit-tests",status="200"}' in text
    assert 'route="unmatched"' in text
    assert "http_request_duration_seconds_bucket" in text
