"""What the REST drivers (DigitalOcean, Hetzner Cloud) share about their providers' HTTP APIs."""

from __future__ import annotations

from . import DriverError

CONNECT_TIMEOUT, READ_TIMEOUT = 10, 30  # seconds


def status_error(label: str, doing: str, message: str, status: int) -> DriverError:
    """An error answer as a DriverError; worth a retry on 429 (rate limit) and 5xx.

    Only the provider's own words and the status go into the message, never the request
    (which carries the token).
    """
    transient = status == 429 or status >= 500
    return DriverError(f"{label}: cannot {doing}: {message} (HTTP {status})", not transient)


def no_answer(label: str, doing: str, exc: Exception) -> DriverError:
    """No usable answer (connection refused, timeout, not JSON): worth a retry."""
    return DriverError(f"{label}: cannot {doing}: {type(exc).__name__}", permanent=False)
