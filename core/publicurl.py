"""Where nodes and browsers reach the control plane."""

import ipaddress
from urllib.parse import urlsplit

from django.conf import settings


def public_base(request) -> str:
    """DC_PUBLIC_URL, else the scheme and host of this request (no trailing slash)."""
    if settings.DC_PUBLIC_URL:
        return settings.DC_PUBLIC_URL
    return request.build_absolute_uri("/").rstrip("/")


def unreachable_reason(base: str) -> str:
    """Why other hosts cannot use `base` (loopback, unspecified or link-local), or ""."""
    host = (urlsplit(base).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return f"{host} is this machine's own name"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return ""  # a name: other hosts may resolve it, we cannot tell from here
    if address.is_loopback:
        return f"{host} is a loopback address"
    if address.is_unspecified:
        return f"{host} is not an address other hosts can dial"
    if address.is_link_local:
        return f"{host} is link-local: only hosts on the same link reach it"
    return ""
