"""OpenAPI extras for drf-spectacular: the JWT security scheme, and the error body every operation may answer."""

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiSerializerExtension

ERROR_SCHEMA = {
    "type": "object",
    "description": "Every error of the platform, from a service or the gateway (docs/errors.md).",
    "properties": {
        "error": {
            "type": "string",
            "pattern": "^[a-z][a-z0-9]*(_[a-z0-9]+)*$",
            "description": "A stable snake_case code, e.g. already_voted or not_authenticated.",
        },
        "message": {"type": "string", "description": "What went wrong, for a person: a sentence."},
        "details": {
            "type": "object",
            "additionalProperties": True,
            "description": "An input field's messages (a list), the resource's id (a string, under <what>_id), or "
            "a duration (whole seconds, under <what>_seconds); {} when there is nothing more.",
        },
    },
    "additionalProperties": False,
    "required": ["error", "message", "details"],
}
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


class JWTAuthenticationScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    target_class = "service_kit.auth.JWTAuthentication"
    name = "jwtAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}


class StrictInputSerializerSchema(OpenApiSerializerExtension):  # type: ignore[no-untyped-call]
    """A StrictInputSerializer refuses fields it does not declare: its schema says so (`additionalProperties:
    false`), so a client generated from the schema, or a fuzzer, knows an extra field is a 400."""

    target_class = "service_kit.serializers.StrictInputSerializer"
    match_subclasses = True

    def map_serializer(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        schema: dict[str, Any] = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        schema["additionalProperties"] = False
        return schema


def document_error_responses(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """A drf-spectacular postprocessing hook: every operation's `default` response is the error body.

    Which of 400/401/403/404/409/429 an operation can answer depends on its rules and the edge's limits; what
    a client can rely on is that any status it was not told of carries this body.
    """
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    default = {
        "description": "An error (4xx from the request's rules or limits, 5xx from the platform).",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            if method in HTTP_METHODS:
                operation.setdefault("responses", {}).setdefault("default", default)
    return result
