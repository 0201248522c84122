import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def _error(response, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error", "message", "details"}
    assert body["message"]
    return body


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [
        ("application", 400, "bad_thing"),
        ("not_found", 404, "poll_not_found"),
        ("conflict", 409, "already_there"),
        ("forbidden", 403, "permission_denied"),
        ("http404", 404, "not_found"),
        ("django_permission", 403, "permission_denied"),
        ("django_validation", 400, "invalid"),
        ("django_validation_plain", 400, "invalid"),
        ("parse", 400, "parse_error"),
    ],
)
def test_every_error_has_the_one_body_shape(api_client, kind, status, code):
    body = _error(api_client.get(reverse("raise", args=[kind])), status)

    assert body["error"] == code


def test_application_error_details_reach_the_client(api_client):
    body = _error(api_client.get(reverse("raise", args=["application"])), 400)

    assert body == {"error": "bad_thing", "message": "Bad thing.", "details": {"x": ["no"]}}


def test_django_validation_errors_keep_their_fields(api_client):
    assert _error(api_client.get(reverse("raise", args=["django_validation"])), 400)["details"] == {
        "name": ["Too short."]
    }
    assert _error(api_client.get(reverse("raise", args=["django_validation_plain"])), 400)["details"] == {
        "non_field_errors": ["Just wrong."]
    }


def test_a_body_over_the_upload_limit_is_a_json_400_naming_the_limit(api_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1_000

    body = _error(api_client.post(reverse("echo"), {"question": "x" * 2_000}, format="json"), 400)

    assert body["error"] == "parse_error"
    assert "DATA_UPLOAD_MAX_MEMORY_SIZE" in body["message"]


def test_nested_validation_errors_keep_their_path(api_client):
    response = api_client.post(reverse("echo"), {"question": "Tea?", "choices": [{"text": "ok"}, {"text": "x" * 20}]})

    body = _error(response, 400)
    assert body["error"] == "invalid"
    # DRF reports the errors of a list by index (only the items that failed).
    assert body["details"]["choices"]["1"]["text"]
    assert body["message"].startswith("choices.1.text:")


def test_missing_fields_name_the_field(api_client):
    body = _error(api_client.post(reverse("echo"), {}), 400)

    assert set(body["details"]) == {"question", "choices"}
    assert body["message"] == "question: This field is required."


def test_malformed_json_is_a_parse_error(api_client):
    response = api_client.generic("POST", reverse("echo"), "{not json", content_type="application/json")

    assert _error(response, 400)["error"] == "parse_error"


def test_an_unsupported_media_type_is_a_415(api_client):
    response = api_client.generic("POST", reverse("echo"), "a=1", content_type="application/x-www-form-urlencoded")

    assert _error(response, 415)["error"] == "unsupported_media_type"


def test_a_wrong_method_is_a_405(api_client):
    assert _error(api_client.delete(reverse("echo")), 405)["error"] == "method_not_allowed"


def test_authentication_failures_are_401(api_client):
    body = _error(api_client.get(reverse("whoami"), HTTP_AUTHORIZATION="Bearer x.y.z"), 401)

    assert body["error"] == "invalid_token"


def test_an_unknown_url_is_a_json_404(api_client):
    body = _error(api_client.get("/nowhere/"), 404)

    assert body["error"] == "not_found"


def test_a_bug_is_a_json_500_without_the_cause(client):
    client.raise_request_exception = False

    body = _error(client.get(reverse("plain-boom")), 500)

    assert body["error"] == "server_error"
    assert "bug" not in body["message"]


def test_a_bug_in_a_drf_view_is_a_json_500(client):
    client.raise_request_exception = False

    assert _error(client.get(reverse("raise", args=["bug"])), 500)["error"] == "server_error"


@pytest.mark.parametrize(
    "body",
    ["[" * 100_000 + "]" * 100_000, '{"a":' * 2_000 + "1" + "}" * 2_000, "[" * 33 + "]" * 33],
    ids=["arrays-100000-deep", "objects-2000-deep", "arrays-33-deep"],
)
def test_a_deeply_nested_body_is_a_json_400(api_client, body):
    response = api_client.generic("POST", reverse("echo"), body, content_type="application/json")

    assert "deeper than 32 levels" in _error(response, 400)["message"]


def test_a_body_nested_within_the_limit_reaches_the_view(api_client):
    response = api_client.generic("POST", reverse("strict-echo"), '{"question": "Tea?", "x": ' + "[" * 30 + "]" * 30 + "}",
                                  content_type="application/json")

    assert _error(response, 400)["details"] == {"x": ["This field is not accepted here."]}


@pytest.mark.parametrize("host", ["evil.example", "a b", "x" * 300, "127.0.0.1:99999999"])
def test_a_host_outside_allowed_hosts_is_a_json_400(client, host):
    response = client.get(reverse("whoami"), HTTP_HOST=host)

    assert _error(response, 400)["error"] == "bad_request"


def test_a_permission_denied_outside_drf_is_a_json_403(client):
    client.raise_request_exception = False

    assert _error(client.get(reverse("plain-forbidden")), 403)["error"] == "permission_denied"
