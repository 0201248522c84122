import pytest

pytestmark = pytest.mark.django_db


def test_the_openapi_schema_describes_every_operation(api_client):
    response = api_client.get("/api/auth/schema/?format=json")

    assert response.status_code == 200
    paths = response.json()["paths"]
    assert set(paths) == {
        "/api/auth/register/", "/api/auth/token/", "/api/auth/token/refresh/", "/api/auth/logout/",
        "/api/auth/password/", "/api/auth/me/", "/api/auth/jwks/",
        "/.well-known/openid-configuration",
    }
    # RFC 6749 §5.1, said where a client generated from the schema reads it.
    for path in ("/api/auth/token/", "/api/auth/token/refresh/", "/api/auth/password/"):
        assert set(paths[path]["post"]["responses"]["200"]["headers"]) == {"Cache-Control", "Pragma"}, path


def test_health_and_metrics(api_client):
    assert api_client.get("/healthz").json() == {"status": "ok"}
    assert api_client.get("/metrics").status_code == 200


def test_an_unknown_path_is_a_json_404(api_client):
    response = api_client.get("/api/auth/nope/")

    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
