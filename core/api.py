"""API conventions shared by every endpoint: lenient parsing, strict fields, error bodies.

Docker Cloud clients send JSON with or without `Content-Type` (and `Accept: */*`), verb POSTs
with empty bodies, and expect `{"error": ...}` bodies on failure. We keep those conventions for
our own API too, so one client library fits both.
"""

import json
from typing import TYPE_CHECKING

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, serializers
from rest_framework.fields import get_error_detail
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import BaseParser
from rest_framework.response import Response
from rest_framework.views import set_rollback


class LenientJSONParser(BaseParser):
    """Parse every non-empty body as JSON, whatever its Content-Type says."""

    media_type = "*/*"

    def parse(self, stream, media_type=None, parser_context=None):
        raw = stream.read()
        if not raw.strip():
            return {}
        try:
            return json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise exceptions.ParseError(f"Malformed JSON: {exc}") from None


class LenientContentNegotiation(DefaultContentNegotiation):
    """Answer JSON whatever `Accept` asks for, instead of 406."""

    def select_renderer(self, request, renderers, format_suffix=None):
        try:
            return super().select_renderer(request, renderers, format_suffix)
        except exceptions.NotAcceptable:
            return renderers[0], renderers[0].media_type


# Field class -> the JSON types it takes, checked before DRF's coercions (which would take
# 0 for a string, "5" for a number, "yes" for a boolean): a value is what the schema says.
JSON_TYPES = (
    (serializers.BooleanField, (bool,), "true or false"),
    (serializers.IntegerField, (int,), "a whole number"),
    (serializers.FloatField, (int, float), "a number"),
    (serializers.ChoiceField, (str,), "a string"),
    (serializers.CharField, (str,), "a string"),
)


def _type_error(field, value) -> str | None:
    if value is None and field.allow_null:
        return None
    for field_class, types, wanted in JSON_TYPES:
        if isinstance(field, field_class):
            ok = isinstance(value, types) and not (bool not in types and isinstance(value, bool))
            return None if ok else f"Give {wanted}."
    return None


if TYPE_CHECKING:  # the mixin goes before a Serializer, whose fields it reads
    _SerializerBase = serializers.Serializer
else:
    _SerializerBase = object


class StrictFieldsMixin(_SerializerBase):
    """Input is a JSON object of known fields whose values have the documented JSON types;
    anything else is a 400 naming the field."""

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError(
                {"non_field_errors": ["Expected a JSON object."]}, code="invalid"
            )
        writable = {name: field for name, field in self.fields.items() if not field.read_only}
        errors = {name: ["Unknown field."] for name in sorted(set(data) - set(writable))}
        for name, field in writable.items():
            message = _type_error(field, data[name]) if name in data else None
            if message:
                errors[name] = [message]
        if errors:
            raise serializers.ValidationError(errors)
        return super().to_internal_value(data)


def _summary(detail) -> str:
    if isinstance(detail, dict):
        parts = []
        for field, messages in detail.items():
            text = _summary(messages)
            parts.append(text if field == "non_field_errors" else f"{field}: {text}")
        return "; ".join(parts)
    if isinstance(detail, list):
        return " ".join(_summary(item) for item in detail)
    return str(detail)


def exception_handler(exc, context):
    """Render errors as `{"error": "..."}` plus `fields` for validation errors."""
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)  # a service's reason, if it gave one
    elif isinstance(exc, DjangoValidationError):
        # Services raise Django's ValidationError with a {field: [messages]} dict.
        exc = exceptions.ValidationError(detail=get_error_detail(exc))
    if not isinstance(exc, exceptions.APIException):
        return None
    headers = {}
    auth_header = getattr(exc, "auth_header", None)  # NotAuthenticated, from the authenticator
    if auth_header:
        headers["WWW-Authenticate"] = auth_header
    wait = getattr(exc, "wait", None)  # Throttled
    if wait:
        headers["Retry-After"] = str(int(wait))
    body: dict[str, object] = {"error": _summary(exc.detail)}
    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        body["fields"] = detail
    set_rollback()
    return Response(body, status=exc.status_code, headers=headers)
