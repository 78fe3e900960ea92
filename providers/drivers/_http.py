"""A small JSON-over-HTTPS client for REST provider APIs (DigitalOcean, Hetzner Cloud)."""

from __future__ import annotations

from collections.abc import Callable

import requests

from . import DriverError

TIMEOUT = (10, 30)  # connect, read (seconds)


class NotFound(DriverError):
    def __init__(self, message: str):
        super().__init__(message, permanent=True)


class RestClient:
    """Bearer-token JSON calls; every failure becomes a DriverError with the provider's words.

    `message_of(body)` extracts the provider's error message from an error body. The token is
    never part of a message (only the provider's own text and the status are).
    """

    def __init__(self, *, base_url: str, token: str, label: str, message_of: Callable):
        self.base_url = base_url.rstrip("/")
        self.label = label
        self.message_of = message_of
        self.session = requests.Session()
        self.session.headers.update(
            {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        )

    def request(self, method: str, path: str, *, doing: str, **kwargs) -> dict:
        url = path if path.startswith("http") else f"{self.base_url}{path}"
        try:
            response = self.session.request(method, url, timeout=TIMEOUT, **kwargs)
        except requests.RequestException as exc:
            raise DriverError(f"{self.label}: cannot {doing}: {type(exc).__name__}") from None
        if response.status_code < 300:
            return response.json() if response.content else {}
        try:
            message = self.message_of(response.json()) or response.reason
        except ValueError:
            message = response.reason
        text = f"{self.label}: cannot {doing}: {message} (HTTP {response.status_code})"
        if response.status_code == 404:
            raise NotFound(text)
        transient = response.status_code == 429 or response.status_code >= 500
        raise DriverError(text, permanent=not transient)
