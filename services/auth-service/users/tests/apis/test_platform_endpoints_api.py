import pytest

pytestmark = pytest.mark.django_db


def test_the_openapi_schema_describes_every_operation(api_client):
    response = api_client.get("/api/auth/schema/?format=json")

    assert response.status_code == 200
    assert set(response.json()["paths"]) == {
        "/api/auth/register/", "/api/auth/token/", "/api/auth/token/refresh/", "/api/auth/me/", "/api/auth/jwks/",
        "/.well-known/openid-configuration",
    }


def test_health_and_metrics(api_client):
    assert api_client.get("/healthz").json() == {"status": "ok"}
    assert api_client.get("/metrics").status_code == 200


def test_an_unknown_path_is_a_json_404(api_client):
    response = api_client.get("/api/auth/nope/")

    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
