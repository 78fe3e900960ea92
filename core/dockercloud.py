"""Docker Cloud API v1 conventions: namespaces, timestamps, resource URIs."""

from datetime import UTC, datetime

from django.http import Http404

from accounts.models import Organization
from accounts.permissions import Access, access_for, request_api_key
from accounts.selectors import organization_access


def rfc1123(value: datetime | None) -> str | None:
    """`Tue, 16 Sep 2014 17:01:15 +0000`, the only format the docker-cloud CLI parses."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")


def namespace_access(request, ns: str | None) -> Access:
    """The organization addressed by an optional namespace segment, as the caller's Access.

    Without a namespace Docker Cloud used the caller's own; ours is their personal
    organization (a service account's is the organization that owns it; a key restricted to
    one organization defaults to that one).
    """
    if ns:
        return organization_access(request=request, name=ns)
    user, key = request.user, request_api_key(request)
    if key is not None and key.organization_id:
        org = key.organization
    elif user.service_org_id:
        org = user.service_org
    else:
        org = Organization.objects.filter(personal_for=user).first()
    if org is None:
        raise Http404
    return access_for(user=user, organization=org, api_key=key)


def namespaced(prefix: str, ns: str | None, rest: str) -> str:
    return f"{prefix}{ns}/{rest}" if ns else f"{prefix}{rest}"
