"""Where nodes and browsers reach the control plane."""

from django.conf import settings


def public_base(request) -> str:
    """DC_PUBLIC_URL, else the scheme and host of this request (no trailing slash)."""
    if settings.DC_PUBLIC_URL:
        return settings.DC_PUBLIC_URL
    return request.build_absolute_uri("/").rstrip("/")
