"""Who is on the other end of a websocket: API clients by their headers, browsers by session.

The Docker Cloud streams take the same `Authorization` values as the REST API (Basic with an
API key or a password, `Token`, `Bearer`, `ApiKey`), or the Go SDK's `?user=&token=`. Browser
sockets carry the session cookie; `realtime.scope.same_origin` checks where they come from.
"""

import base64
from dataclasses import dataclass
from types import SimpleNamespace

from django.contrib.auth import HASH_SESSION_KEY, authenticate
from django.http import HttpRequest
from django.utils.crypto import constant_time_compare

from core.clientip import scope_meta
from realtime.scope import header, query

from .authentication import parse_authorization
from .models import ApiKey, User
from .services import APIKEY_KIND, apikey_authenticate


@dataclass(frozen=True)
class ApiCaller:
    user: User
    api_key: ApiKey | None

    def as_request(self):
        """What the REST selectors read from a request: `user` and `auth`."""
        return SimpleNamespace(user=self.user, auth=self.api_key)


def _authorization(scope) -> str:
    given = header(scope, b"authorization")
    if given:
        return given
    params = query(scope)  # the Go SDK's older stream helpers
    if params.get("user") and params.get("token"):
        raw = f"{params['user']}:{params['token']}".encode()
        return "Basic " + base64.b64encode(raw).decode()
    return ""


def _http_request(scope) -> HttpRequest:
    """For `authenticate()`: login throttling (axes) needs the client's address."""
    request = HttpRequest()
    request.META = {
        **scope_meta(scope),  # the client's address through trusted proxies (core.clientip)
        "HTTP_USER_AGENT": header(scope, b"user-agent"),
        "PATH_INFO": scope.get("path", ""),
    }
    request.path = request.path_info = scope.get("path", "")
    request.method = "GET"
    return request


def api_caller(scope) -> ApiCaller | None:
    """The user (and API key) behind a handshake's credentials; None means 401. Sync."""
    value = _authorization(scope)
    parsed = parse_authorization(value) if value else None
    if parsed is None:
        return None
    scheme, username, secret = parsed
    if secret.startswith(f"{APIKEY_KIND}_"):
        key = apikey_authenticate(token=secret)
        if key is None or not key.user.is_active:
            return None
        if username and username.lower() != key.user.username.lower():
            return None
        return ApiCaller(user=key.user, api_key=key)
    if scheme not in ("basic", "apikey"):
        return None
    user = authenticate(_http_request(scope), username=username, password=secret)
    if user is None or not user.is_active:
        return None
    return ApiCaller(user=user, api_key=None)


def caller_still_valid(caller: ApiCaller) -> bool:
    """The handshake's credential, read again: the key still usable, or the password the
    same; the user still active. Sync."""
    user = User.objects.filter(pk=caller.user.pk).first()
    if user is None or not user.is_active:
        return False
    if caller.api_key is not None:
        key = ApiKey.objects.filter(pk=caller.api_key.pk).first()
        return key is not None and key.is_usable()
    return constant_time_compare(user.password, caller.user.password)


def session_still_valid(session, user: User) -> bool:
    """A portal socket's session still exists and still matches its user's password (as
    Django checks on every request), and the user is active. Sync."""
    if not session.exists(session.session_key):
        return False
    fresh = User.objects.filter(pk=user.pk).first()
    if fresh is None or not fresh.is_active:
        return False
    return constant_time_compare(session.get(HASH_SESSION_KEY, ""), fresh.get_session_auth_hash())
