"""The OpenAPI document (drf-spectacular): how the API authenticates, and its error answers written
once for every operation (tenants.api.errors shapes them), so that the document lists every status
an operation can answer."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers


class ErrorSerializer(serializers.Serializer):
    """Every error answer of the API (tenants.api.errors): a stable code and a sentence."""

    code = serializers.CharField(help_text="Stable: invalid, not-found, not-authenticated, not-allowed...")
    detail = serializers.CharField()
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="400 invalid: the messages per field (non_field_errors for the whole input).",
    )


ERRORS = {
    "400": "Bad input: `fields` has the message per field; or an action not possible now (`code` says why).",
    "401": "No credentials, or a token or session not valid on this host.",
    "403": "Not allowed for the caller's role, or the client is suspended.",
    "404": "Nothing here: no such object in the caller's scope, no such page, or not served on this host.",
    "429": "Too many wrong passwords for this account or from this address (`locked`): wait, or ask an operator.",
    "409": "In conflict with the object's state (such as a deck or message still in use, a call already ended).",
    "503": "No call engine could take the command; try again.",
}


def error_answers(*codes: int) -> dict:
    """More error answers for one operation's extend_schema(responses=...), such as 409 and 503."""
    return {code: OpenApiResponse(ErrorSerializer, description=ERRORS[str(code)]) for code in codes}


class ApiSchema(AutoSchema):
    """Adds the error answers: 401, 403 and 404 everywhere, 400 where the caller sends something (a
    body or query parameters); an operation that can answer more says so (error_answers). A view
    whose list answers an object rather than an array sets `list_answers_object`."""

    def _is_list_view(self, serializer=None) -> bool:
        # A list action that answers one object (the statements: the month and its lines) says so.
        if getattr(self.view, "list_answers_object", False):
            return False
        return super()._is_list_view(serializer)

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        codes = ["401", "403", "404"]
        takes_input = self.method in ("POST", "PUT", "PATCH", "DELETE") or any(
            parameter.get("in") == "query" for parameter in self._get_parameters()
        )
        if takes_input:
            codes.append("400")
        error = self._get_response_for_code(ErrorSerializer, "400", ["application/json"], direction)
        for code in sorted(codes):
            responses.setdefault(code, {**error, "description": ERRORS[code]})
        return responses


class TokenScheme(OpenApiAuthenticationExtension):
    target_class = "tenants.api.auth.TokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": 'A key from /api/v1/tokens/, sent as "Token <key>" (or "Bearer <key>").',
        }


class SessionScheme(OpenApiAuthenticationExtension):
    target_class = "tenants.api.auth.SessionAuthentication"
    name = "cookieAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "cookie", "name": settings.SESSION_COOKIE_NAME}
