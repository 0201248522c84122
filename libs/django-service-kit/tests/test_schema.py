from service_kit.schema import ERROR_SCHEMA, document_error_responses
from service_kit.settings import common_settings


def _schema():
    return {
        "paths": {
            "/api/polls/": {
                "parameters": [{"name": "shared", "in": "query"}],
                "get": {"responses": {"200": {"description": "the page"}}},
                "post": {"responses": {"201": {"description": "created"}}},
            }
        }
    }


def test_every_operation_answers_undocumented_statuses_with_the_error_body():
    schema = document_error_responses(_schema(), generator=None, request=None, public=True)

    assert schema["components"]["schemas"]["Error"] == ERROR_SCHEMA
    operations = schema["paths"]["/api/polls/"]
    for method in ("get", "post"):
        assert operations[method]["responses"]["default"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Error"
        }
    assert operations["get"]["responses"]["200"] == {"description": "the page"}
    assert operations["parameters"] == [{"name": "shared", "in": "query"}]  # not an operation: left alone


def test_an_operation_that_documents_its_own_default_keeps_it():
    schema = _schema()
    schema["paths"]["/api/polls/"]["get"]["responses"]["default"] = {"description": "mine"}

    document_error_responses(schema, generator=None, request=None, public=True)

    assert schema["paths"]["/api/polls/"]["get"]["responses"]["default"] == {"description": "mine"}


def test_every_service_built_on_common_settings_gets_the_hook(tmp_path):
    hooks = common_settings(service="any-service", base_dir=tmp_path)["SPECTACULAR_SETTINGS"]["POSTPROCESSING_HOOKS"]

    assert "service_kit.schema.document_error_responses" in hooks
    assert "drf_spectacular.hooks.postprocess_schema_enums" in hooks  # drf-spectacular's default stays


def test_a_strict_input_serializer_refuses_extra_fields_in_its_schema_too():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator(patterns=_strict_echo_patterns()).get_schema(request=None, public=True)

    reference = schema["paths"]["/strict-echo/"]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    body = schema["components"]["schemas"][reference.rsplit("/", 1)[1]]
    assert body["additionalProperties"] is False
    assert body["required"] == ["question"]


def _strict_echo_patterns():
    from django.urls import path

    from tests.views import StrictEchoApi

    return [path("strict-echo/", StrictEchoApi.as_view())]
