"""The one permission policy: who may do which verb on an organization's resources.

Levels grow `read` < `write` < `admin`. Owners and admins have `admin`; members get the highest
permission of their teams in the organization, `read` when they belong to no team. An API key
can narrow this further: a read-only key caps the level at `read`; a key restricted to one
organization sees no other (404, as if the organization did not exist).
"""

from dataclasses import dataclass

from django.http import Http404
from rest_framework.permissions import BasePermission

from .models import ApiKey, Membership, Organization, Role, Team, User

LEVELS = {"none": 0, "read": 1, "write": 2, "admin": 3}

# Verb -> minimum level. Domain verbs of later apps (`terminate`, `ssh`) are listed here too.
VERB_LEVEL = {
    "view": "read",
    "use": "write",
    "change": "write",
    "delete": "write",
    "terminate": "write",
    "ssh": "write",
    "manage": "admin",  # members, teams, invitations, service accounts, organization settings
    "customize": "admin",  # provider options beyond the defaults (image, network, IAM role)
}

METHOD_VERB = {
    "GET": "view",
    "HEAD": "view",
    "OPTIONS": "view",
    "POST": "change",
    "PUT": "change",
    "PATCH": "change",
    "DELETE": "delete",
}


@dataclass(frozen=True)
class Access:
    """What the caller may do in one organization, computed once per request."""

    organization: Organization
    membership: Membership
    level: str

    def can(self, verb: str) -> bool:
        return LEVELS[self.level] >= LEVELS[VERB_LEVEL[verb]]

    @property
    def role(self) -> str:
        return self.membership.role


def member_level(membership: Membership) -> str:
    if membership.role in (Role.OWNER, Role.ADMIN):
        return "admin"
    perms = Team.objects.filter(
        organization_id=membership.organization_id, members=membership.user_id
    ).values_list("permission", flat=True)
    return max(perms, key=LEVELS.__getitem__, default="read")


def access_for(*, user: User, organization: Organization, api_key: ApiKey | None = None) -> Access:
    """Return the caller's Access to `organization`, or raise Http404 if it has none."""
    if api_key is not None and api_key.organization_id not in (None, organization.pk):
        raise Http404
    membership = (
        Membership.objects.filter(organization=organization, user=user)
        .select_related("user")
        .first()
    )
    if membership is None or not user.is_active:
        raise Http404
    level = member_level(membership)
    if api_key is not None and api_key.read_only and LEVELS[level] > LEVELS["read"]:
        level = "read"
    return Access(organization=organization, membership=membership, level=level)


def request_api_key(request) -> ApiKey | None:
    return request.auth if isinstance(getattr(request, "auth", None), ApiKey) else None


class OrgPermission(BasePermission):
    """Maps the HTTP method (or the view's `verb_map`) to a verb checked on `view.access`."""

    message = "You do not have permission to do this in this organization."

    def has_permission(self, request, view) -> bool:
        verb_map = getattr(view, "verb_map", {})
        verb = verb_map.get(getattr(view, "action", None)) or METHOD_VERB.get(
            request.method, "change"
        )
        return view.access.can(verb)


class UserKeyPermission(BasePermission):
    """For per-user endpoints: read-only keys may only read; org-restricted keys never."""

    message = "This API key cannot manage user settings."

    def has_permission(self, request, view) -> bool:
        key = request_api_key(request)
        if key is None:
            return True
        if key.organization_id is not None:
            return False
        return not key.read_only or request.method in ("GET", "HEAD", "OPTIONS")
