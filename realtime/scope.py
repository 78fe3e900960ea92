"""What a websocket handshake carries: its headers, its query, and whether a browser opened it
from a page of this site (another site's page could otherwise open a socket with the user's
cookie: cross-site websocket hijacking)."""

from urllib.parse import parse_qs, urlsplit

from django.conf import settings


def header(scope, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return ""


def query(scope) -> dict[str, str]:
    raw = scope.get("query_string", b"").decode("latin-1")
    return {k: v[-1] for k, v in parse_qs(raw).items()}


def same_origin(scope) -> bool:
    """A browser's socket comes from a page of this site (or a trusted origin)."""
    origin = header(scope, b"origin")
    if not origin:
        return True  # not a browser: browsers always send Origin on websockets
    if origin in settings.CSRF_TRUSTED_ORIGINS:
        return True
    return urlsplit(origin).netloc.lower() == header(scope, b"host").lower()
