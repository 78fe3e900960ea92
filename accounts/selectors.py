"""Tenant-scoped reads. Every lookup takes the organization (or user) first; misses are 404."""

from django.db.models import QuerySet
from django.http import Http404

from .models import (
    ApiKey,
    AuditEntry,
    Invitation,
    Membership,
    Organization,
    SshKey,
    Team,
    User,
)
from .permissions import Access, access_for, request_api_key


def organizations_for_user(*, user: User, api_key: ApiKey | None = None) -> QuerySet[Organization]:
    qs = Organization.objects.filter(memberships__user=user)
    if api_key is not None and api_key.organization_id is not None:
        qs = qs.filter(pk=api_key.organization_id)
    return qs.order_by("name")


def organization_access(*, request, name: str) -> Access:
    """The caller's Access to the organization called `name`; 404 if absent or not theirs."""
    organization = Organization.objects.filter(name=name).first()
    if organization is None or not request.user.is_authenticated:
        raise Http404
    return access_for(
        user=request.user, organization=organization, api_key=request_api_key(request)
    )


def members_list(*, organization: Organization) -> QuerySet[Membership]:
    return (
        Membership.objects.filter(organization=organization)
        .select_related("user", "organization")
        .order_by("user__username")
    )


def member_get(*, organization: Organization, username: str) -> Membership:
    membership = members_list(organization=organization).filter(user__username=username).first()
    if membership is None:
        raise Http404
    return membership


def teams_list(*, organization: Organization) -> QuerySet[Team]:
    return (
        Team.objects.filter(organization=organization)
        .select_related("organization")
        .prefetch_related("members")
    )


def team_get(*, organization: Organization, uuid) -> Team:
    team = teams_list(organization=organization).filter(uuid=uuid).first()
    if team is None:
        raise Http404
    return team


def invitations_list(*, organization: Organization) -> QuerySet[Invitation]:
    return Invitation.objects.filter(organization=organization).select_related(
        "organization", "team", "invited_by"
    )


def invitation_get(*, organization: Organization, uuid) -> Invitation:
    invitation = invitations_list(organization=organization).filter(uuid=uuid).first()
    if invitation is None:
        raise Http404
    return invitation


def service_accounts_list(*, organization: Organization) -> QuerySet[User]:
    return (
        User.objects.filter(service_org=organization)
        .select_related("service_org")
        .order_by("username")
    )


def service_account_get(*, organization: Organization, uuid) -> User:
    account = service_accounts_list(organization=organization).filter(uuid=uuid).first()
    if account is None:
        raise Http404
    return account


def audit_list(*, organization: Organization) -> QuerySet[AuditEntry]:
    return AuditEntry.objects.filter(organization=organization).order_by("-created", "-id")


def apikeys_for_user(*, user: User) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(user=user).select_related("organization")


def apikey_get(*, user: User, uuid) -> ApiKey:
    key = apikeys_for_user(user=user).filter(uuid=uuid).first()
    if key is None:
        raise Http404
    return key


def sshkeys_for_user(*, user: User) -> QuerySet[SshKey]:
    return SshKey.objects.filter(user=user)


def sshkey_get(*, user: User, uuid) -> SshKey:
    key = sshkeys_for_user(user=user).filter(uuid=uuid).first()
    if key is None:
        raise Http404
    return key


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
