"""The OpenAPI schema tells the truth: every operation lists the error statuses it answers.

drf-spectacular documents the success answer of each operation; this AutoSchema adds the
error envelope (`{"error": ..., "fields": {...}}`, see `core.api.exception_handler`) for:

- 400: a body to parse and validate (POST, PUT, PATCH), or query parameters (list filters,
  `limit` and `offset`, which are validated strictly);
- 401: any operation that needs a caller (no credentials, wrong ones, or a locked-out login);
- 403: any such operation: the caller's level, or the API key's scope, may refuse it;
- 404: an object named in the path, or an organization (namespace) the caller cannot see;
- 409: where a view declares it (`extend_schema(responses={409: ERROR})`).

Request bodies are JSON only in the schema (the lenient parser also takes JSON sent with
another content type, as the Docker Cloud clients do, but that is not a promise to new ones).
"""

from drf_spectacular.openapi import AutoSchema as BaseAutoSchema
from drf_spectacular.plumbing import force_instance, is_basic_serializer
from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import permissions, serializers

from .api import StrictFieldsMixin

ERROR = OpenApiResponse(
    response=inline_serializer(
        name="Error",
        fields={
            "error": serializers.CharField(help_text="What went wrong, in one sentence."),
            "fields": serializers.DictField(
                child=serializers.ListField(child=serializers.CharField()),
                required=False,
                help_text="For 400: the messages of each field that was refused.",
            ),
        },
    ),
    description="Error",
)
DESCRIPTIONS = {
    "400": "Malformed or invalid input: `fields` names each refused field.",
    "401": "No credentials, wrong ones, or a login locked out after failures (`Retry-After`).",
    "403": "The caller's role, team or API key does not allow this here.",
    "404": "No such object, or not in an organization the caller can see.",
}


# Names in paths (organizations, users, providers, regions, node types, zones): what the URL
# can carry without escaping. The views answer 404 for a name that does not exist.
PATH_NAME = {"pattern": "^[A-Za-z0-9][A-Za-z0-9._-]*$", "maxLength": 255}


class AutoSchema(BaseAutoSchema):
    def map_parsers(self) -> list:
        return ["application/json"]

    def get_operation(self, *args, **kwargs):
        operation = super().get_operation(*args, **kwargs)
        for parameter in (operation or {}).get("parameters", []):
            schema = parameter.get("schema", {})
            plain = schema.get("type") == "string" and not {"format", "pattern", "enum"} & set(
                schema
            )
            if parameter.get("in") == "path" and plain:
                schema.update(PATH_NAME)
        return operation

    def _get_request_body(self, direction="request"):
        # A verb whose serializer takes nothing (deploy, upgrade, a token) has no body to
        # document: the server reads none.
        serializer = self.get_request_serializer()
        if is_basic_serializer(serializer) and not any(
            not field.read_only for field in force_instance(serializer).fields.values()
        ):
            return None
        return super()._get_request_body(direction)

    def _map_basic_serializer(self, serializer, direction):
        schema = super()._map_basic_serializer(serializer, direction)
        if direction == "request" and isinstance(serializer, StrictFieldsMixin):
            schema["additionalProperties"] = False  # an unknown field is a 400
        return schema

    def _needs_caller(self) -> bool:
        return not all(isinstance(p, permissions.AllowAny) for p in self.view.get_permissions())

    def _error_codes(self) -> list[str]:
        codes = []
        if self.method in ("POST", "PUT", "PATCH") or self._has_query_parameters():
            codes.append("400")
        if self._needs_caller():
            codes += ["401", "403"]
        if "{" in self.path or self._needs_caller():
            codes.append("404")
        return codes

    def _has_query_parameters(self) -> bool:
        return self._is_list_view() or any(p.get("in") == "query" for p in self._get_parameters())

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        for code in self._error_codes():
            if code not in responses:
                responses[code] = self._get_response_for_code(ERROR, code, direction=direction)
                responses[code]["description"] = DESCRIPTIONS[code]
        return responses
