"""OpenAPI descriptions of our authentication schemes (drf-spectacular extensions)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.ApiKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "basic",
            "description": "username:apikey (Docker Cloud clients), or `Token KEY` / `Bearer KEY`.",
        }


class PasswordScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.PasswordBasicAuthentication"
    name = "basicPassword"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "basic", "description": "username:password"}


class SessionScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.CsrfSessionAuthentication"
    name = "session"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "cookie", "name": "sessionid"}
