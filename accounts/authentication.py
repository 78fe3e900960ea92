"""API authentication: API keys (Basic, Token, Bearer), Basic with a password, and sessions.

Docker Cloud clients send `Authorization: Basic base64(user:apikey)` or `user:password`, or an
opaque `DOCKERCLOUD_AUTH` value verbatim; we accept our keys as `Token KEY` and `Bearer KEY` too.
"""

import base64
import binascii

from django.contrib.auth import authenticate
from rest_framework import authentication, exceptions

from .services import apikey_authenticate


def parse_authorization(header: str) -> tuple[str, str, str] | None:
    """Split an Authorization header into (scheme, username, secret); None if unparseable."""
    scheme, _, value = header.strip().partition(" ")
    scheme, value = scheme.lower(), value.strip()
    if not value:
        return None
    if scheme in ("token", "bearer"):
        return scheme, "", value
    if scheme in ("basic", "apikey"):
        if scheme == "basic":
            try:
                value = base64.b64decode(value, validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                return None
        username, sep, secret = value.partition(":")
        return (scheme, username, secret) if sep else None
    return None


def _header(request) -> str:
    return request.META.get("HTTP_AUTHORIZATION", "")


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """An API key in any accepted scheme. With Basic, the username must be the key's owner."""

    def authenticate(self, request):
        parsed = parse_authorization(_header(request))
        if parsed is None:
            return None
        scheme, username, secret = parsed
        if not secret.startswith("dck_"):
            return None  # maybe a password: the next authenticator decides
        key = apikey_authenticate(token=secret)
        if key is None or (username and username.lower() != key.user.username.lower()):
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked API key.")
        if not key.user.is_active:
            raise exceptions.AuthenticationFailed("This account is inactive.")
        return key.user, key

    def authenticate_header(self, request):
        return 'Basic realm="dockercloud"'


class PasswordBasicAuthentication(authentication.BaseAuthentication):
    """`Basic user:password`, as the Docker Cloud clients send from `docker login` credentials.

    Goes through `authenticate()`, so login throttling (axes) applies to it as to the portal.
    """

    def authenticate(self, request):
        parsed = parse_authorization(_header(request))
        if parsed is None:
            if _header(request):
                raise exceptions.AuthenticationFailed("Malformed Authorization header.")
            return None
        scheme, username, secret = parsed
        if scheme not in ("basic", "apikey"):
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked API key.")
        user = authenticate(request._request, username=username, password=secret)
        if user is None:
            raise exceptions.AuthenticationFailed("Invalid username or password.")
        return user, None

    def authenticate_header(self, request):
        return 'Basic realm="dockercloud"'


class CsrfSessionAuthentication(authentication.SessionAuthentication):
    """The portal's session; unsafe methods need the CSRF token (DRF's default behaviour)."""
