"""Docker Cloud API v1 conventions: namespaces, timestamps, resource URIs."""

from datetime import UTC, datetime


def rfc1123(value: datetime | None) -> str | None:
    """`Tue, 16 Sep 2014 17:01:15 +0000`, the only format the docker-cloud CLI parses."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")


def namespaced(prefix: str, ns: str | None, rest: str) -> str:
    return f"{prefix}{ns}/{rest}" if ns else f"{prefix}{rest}"
