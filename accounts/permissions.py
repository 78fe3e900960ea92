"""The one access policy: `can(access, verb, obj)` decides every permission in the product.

The API, the portal, the websocket consumers and the tasks all ask it; nothing else knows about
roles, teams, credential grants or an API key's scope.

- **Levels** grow `read` < `write` < `admin`. Owners and admins have `admin`; members get the
  highest permission of their teams in the organization, `read` when they belong to no team.
- **Verbs** each need a level (`VERB_LEVEL`). `view` is the only reading verb.
- **API keys** narrow the caller: a read-only key may only `view`, whatever its user may do
  (grants included); a key restricted to one organization sees no other (404, as if the
  organization did not exist) and cannot act on the user's account (`leave`, `join`).
- **Credential grants**: an admin may grant a team `use` of one credential. Below `write`, a
  grantee may then do the verbs of `GRANTED` on the objects that deploy with that credential
  (the credential itself, its node clusters and their nodes), and nothing else. Objects say
  which credential they deploy with through `grant_credential_uuid`; the grants a caller holds
  come from the source the providers app registers (`register_grant_source`), so this module
  needs no import from the layers above it.

Another tenant's object never reaches `can`: selectors look objects up within the caller's
organization, so it is a 404 before any permission is asked.
"""

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

from django.http import Http404
from rest_framework.exceptions import NotAuthenticated
from rest_framework.permissions import BasePermission

from .models import ApiKey, Membership, Organization, Role, Team, User

LEVELS = {"none": 0, "read": 1, "write": 2, "admin": 3}

# Verb -> the organization level that grants it.
VERB_LEVEL = {
    "view": "read",
    "use": "write",  # deploy with a credential: create a node cluster with it
    "change": "write",  # edit: tags, nickname, scale, registration tokens, BYO installs
    "delete": "write",
    "deploy": "write",
    "upgrade": "write",  # upgrade Docker on a node or a cluster's nodes
    "agent_upgrade": "write",
    "health_check": "write",  # it records an action and may flip the node's state
    "terminate": "write",
    "ssh": "write",
    "customize": "admin",  # provider options beyond the vetted defaults (image, network, role)
    "manage": "admin",  # members, teams, invitations, service accounts, settings, grants, audit
}
READ_VERBS = frozenset({"view"})
# Verbs on the user's own account, asked within an organization (leaving it): never through a
# read-only key or a key restricted to one organization.
ACCOUNT_VERBS = frozenset({"leave"})

# Resource (model name) -> the verbs a credential grant admits on it.
GRANTED = {
    "credential": frozenset({"use"}),
    "nodecluster": frozenset({"use", "change", "deploy", "upgrade", "terminate"}),
    "node": frozenset({"upgrade", "terminate"}),
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

GrantSource = Callable[["Access"], frozenset[uuid.UUID]]
_grant_source: GrantSource | None = None


def register_grant_source(source: GrantSource) -> None:
    """The providers app tells the policy which credentials a caller was granted."""
    global _grant_source
    _grant_source = source


@dataclass(frozen=True)
class Access:
    """What the caller is in one organization, computed once per request.

    `level` is the member's level, already capped at `read` for a read-only key.
    """

    organization: Organization
    membership: Membership
    level: str
    api_key: ApiKey | None = field(default=None, compare=False)

    @property
    def role(self) -> str:
        return self.membership.role

    @property
    def read_only(self) -> bool:
        return self.api_key is not None and self.api_key.read_only

    @property
    def account_key(self) -> bool:
        """False for a key that may not act on the user's account (read-only or restricted)."""
        key = self.api_key
        return key is None or (not key.read_only and key.organization_id is None)

    @cached_property
    def granted_credentials(self) -> frozenset[uuid.UUID]:
        """Credentials of this organization granted to the caller's teams (one query, once)."""
        if _grant_source is None or self.read_only:
            return frozenset()
        return _grant_source(self)

    def can(self, verb: str, obj=None) -> bool:
        return can(self, verb, obj)


def can(access: Access | None, verb: str, obj=None) -> bool:
    """May the caller do `verb` on `obj` (an object of `access`'s organization), or on the
    organization itself when `obj` is None?"""
    if access is None:
        return False
    if verb in ACCOUNT_VERBS:
        return access.account_key
    if verb not in READ_VERBS and access.read_only:
        return False
    if LEVELS[access.level] >= LEVELS[VERB_LEVEL[verb]]:
        return True
    if obj is None:
        return False
    granted = GRANTED.get(obj._meta.model_name, frozenset())
    if verb not in granted:
        return False
    credential = getattr(obj, "grant_credential_uuid", None)
    return credential is not None and credential in access.granted_credentials


def can_by_grant(access: Access | None, verb: str, resource: str) -> bool:
    """Could a grant admit `verb` on some object of `resource`? For deciding before the object
    is known (showing a form, letting a request through to its object check)."""
    if access is None or access.read_only:
        return False
    return verb in GRANTED.get(resource, frozenset()) and bool(access.granted_credentials)


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
    return Access(organization=organization, membership=membership, level=level, api_key=api_key)


def request_api_key(request) -> ApiKey | None:
    return request.auth if isinstance(getattr(request, "auth", None), ApiKey) else None


def request_user(request) -> User:
    """The user an authenticated DRF request was made by. For views that require one
    (IsAuthenticated): an anonymous caller never gets this far, and is refused if it does."""
    user = request.user
    if not isinstance(user, User):
        raise NotAuthenticated()
    return user


def view_verb(request, view) -> str:
    """The verb a DRF view's call needs: the view's `verb_map` for its action, else by method."""
    verb_map = getattr(view, "verb_map", {})
    return verb_map.get(getattr(view, "action", None)) or METHOD_VERB.get(request.method, "change")


class OrgPermission(BasePermission):
    """Asks the policy for the call's verb on `view.access` (the organization), and on the
    object the view looked up (`check_object_permissions`). A view with `resource` set lets a
    call through to its object check when a credential grant could admit it there."""

    message = "You do not have permission to do this in this organization."

    def has_permission(self, request, view) -> bool:
        verb = view_verb(request, view)
        if can(view.access, verb):
            return True
        resource = getattr(view, "resource", None)
        return resource is not None and can_by_grant(view.access, verb, resource)

    def has_object_permission(self, request, view, obj) -> bool:
        return can(view.access, view_verb(request, view), obj)


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
