"""Writes on organizations: creation, memberships, teams, invitations, service accounts."""

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone

from core import tokens
from realtime.emit import emit_on_commit
from realtime.groups import group_for_member
from realtime.payloads import membership_removed

from ..audit import Actor, audit_record
from ..models import Invitation, Membership, Organization, Permission, Role, Team, User
from ..names import validate_namespace
from .sockets import sockets_close

INVITATION_KIND = "dci"


def _check_namespace_free(name: str, field: str = "name") -> None:
    try:
        validate_namespace(name)
    except ValidationError as exc:
        raise ValidationError({field: exc.messages}) from None
    if (
        Organization.objects.filter(name=name).exists()
        or User.objects.filter(username=name).exists()
    ):
        raise ValidationError({field: [f"The name '{name}' is already taken."]})


@transaction.atomic
def organization_create(*, actor: Actor, name: str, display_name: str = "") -> Organization:
    _check_namespace_free(name)
    if len(display_name) > 100:
        raise ValidationError({"display_name": ["At most 100 characters."]})
    try:
        with transaction.atomic():
            org = Organization.objects.create(name=name, display_name=display_name)
    except IntegrityError:  # a concurrent create won the name
        raise ValidationError({"name": [f"The name '{name}' is already taken."]}) from None
    Membership.objects.create(organization=org, user=actor.person, role=Role.OWNER)
    audit_record(actor=actor, action="organization.create", organization=org, obj=org)
    return org


@transaction.atomic
def organization_update(
    *, actor: Actor, organization: Organization, display_name: str
) -> Organization:
    if len(display_name) > 100:
        raise ValidationError({"display_name": ["At most 100 characters."]})
    organization.display_name = display_name
    organization.save(update_fields=["display_name"])
    audit_record(
        actor=actor, action="organization.update", organization=organization, obj=organization
    )
    return organization


def _owners(organization: Organization):
    return Membership.objects.select_for_update().filter(organization=organization, role=Role.OWNER)


def _ensure_not_last_owner(membership: Membership, message: str) -> None:
    if membership.role != Role.OWNER:
        return
    if not _owners(membership.organization).exclude(pk=membership.pk).exists():
        raise ValidationError({"role": [message]})


@transaction.atomic
def membership_set_role(*, actor: Actor, membership: Membership, role: str) -> Membership:
    if role not in Role.values:
        raise ValidationError({"role": [f"Choose one of: {', '.join(Role.values)}."]})
    if role == Role.OWNER or membership.role == Role.OWNER:
        _ensure_actor_is_owner(actor, membership.organization)
    if role != Role.OWNER:
        _ensure_not_last_owner(membership, "The last owner cannot be demoted.")
    membership.role = role
    membership.save(update_fields=["role"])
    audit_record(
        actor=actor,
        action="member.role",
        organization=membership.organization,
        obj=membership.user,
        object_type="member",
        data={"role": role},
    )
    return membership


@transaction.atomic
def membership_add(
    *, actor: Actor, organization: Organization, username: str, role: str = Role.MEMBER
) -> Membership:
    """Add an existing user directly (as Docker Hub organizations do); invitations are by email."""
    if role not in Role.values:
        raise ValidationError({"role": [f"Choose one of: {', '.join(Role.values)}."]})
    if role == Role.OWNER:
        _ensure_actor_is_owner(actor, organization)
    user = User.objects.filter(username=username, is_active=True, service_org=None).first()
    if user is None:
        raise ValidationError({"username": [f"No user named '{username}'."]})
    if Membership.objects.filter(organization=organization, user=user).exists():
        raise ValidationError({"username": [f"{username} is already a member."]})
    membership = Membership.objects.create(organization=organization, user=user, role=role)
    audit_record(
        actor=actor,
        action="member.add",
        organization=organization,
        obj=user,
        object_type="member",
        data={"role": role},
    )
    return membership


def _ensure_actor_is_owner(actor: Actor, organization: Organization) -> None:
    is_owner = Membership.objects.filter(
        organization=organization, user=actor.user, role=Role.OWNER
    ).exists()
    if not is_owner:
        raise ValidationError({"role": ["Only an owner can grant or remove the owner role."]})


@transaction.atomic
def membership_remove(*, actor: Actor, membership: Membership) -> None:
    """Remove a member (or let one leave); takes effect on their next request."""
    org = membership.organization
    _ensure_not_last_owner(membership, "The last owner cannot leave the organization.")
    if membership.role == Role.OWNER and actor.user != membership.user:
        _ensure_actor_is_owner(actor, org)
    for team in Team.objects.filter(organization=org, members=membership.user):
        team.members.remove(membership.user)
    membership.delete()
    _close_member_sockets(org_id=org.pk, user_id=membership.user_id)
    audit_record(
        actor=actor,
        action="member.remove",
        organization=org,
        obj=membership.user,
        object_type="member",
    )


def _close_member_sockets(*, org_id: int, user_id: int) -> None:
    """After the commit, close the live event sockets the removed member holds on the org."""
    emit_on_commit(
        group_for_member(org_id, user_id), membership_removed(org_id=org_id, user_id=user_id)
    )


def _team_fields(organization: Organization, name: str, permission: str, exclude=None) -> None:
    errors = {}
    if not name or len(name) > 50:
        errors["name"] = ["Give a name of 1 to 50 characters."]
    elif Team.objects.filter(organization=organization, name=name).exclude(pk=exclude).exists():
        errors["name"] = [f"A team named '{name}' already exists."]
    if permission not in Permission.values:
        errors["permission"] = ["Choose one of: read, write, admin."]
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def team_create(
    *,
    actor: Actor,
    organization: Organization,
    name: str,
    permission: str = "read",
    members: list[str] | None = None,
) -> Team:
    _team_fields(organization, name, permission)
    team = Team.objects.create(organization=organization, name=name, permission=permission)
    audit_record(
        actor=actor,
        action="team.create",
        organization=organization,
        obj=team,
        data={"permission": permission},
    )
    if members is not None:
        team_set_members(actor=actor, team=team, usernames=members)
    return team


@transaction.atomic
def team_update(
    *,
    actor: Actor,
    team: Team,
    name: str | None = None,
    permission: str | None = None,
    members: list[str] | None = None,
) -> Team:
    name = team.name if name is None else name
    permission = team.permission if permission is None else permission
    _team_fields(team.organization, name, permission, exclude=team.pk)
    team.name, team.permission = name, permission
    team.save(update_fields=["name", "permission"])
    audit_record(
        actor=actor,
        action="team.update",
        organization=team.organization,
        obj=team,
        data={"permission": permission},
    )
    if members is not None:
        team_set_members(actor=actor, team=team, usernames=members)
    return team


@transaction.atomic
def team_delete(*, actor: Actor, team: Team) -> None:
    audit_record(actor=actor, action="team.delete", organization=team.organization, obj=team)
    team.delete()


@transaction.atomic
def team_set_members(*, actor: Actor, team: Team, usernames: list[str]) -> Team:
    """Replace the team's members; each must be a member of the team's organization."""
    users = list(
        User.objects.filter(memberships__organization=team.organization, username__in=usernames)
    )
    missing = sorted(set(usernames) - {u.username for u in users})
    if missing:
        raise ValidationError(
            {"members": [f"Not members of this organization: {', '.join(missing)}."]}
        )
    team.members.set(users)
    audit_record(
        actor=actor,
        action="team.members",
        organization=team.organization,
        obj=team,
        data={"members": sorted(usernames)},
    )
    return team


@transaction.atomic
def invitation_create(
    *,
    actor: Actor,
    organization: Organization,
    email: str,
    role: str = Role.MEMBER,
    team: Team | None = None,
    accept_url: str,
) -> tuple[Invitation, str]:
    """Create an invitation and email its link. `accept_url` is formatted with the token."""
    if role not in Role.values:
        raise ValidationError({"role": [f"Choose one of: {', '.join(Role.values)}."]})
    if role == Role.OWNER:
        _ensure_actor_is_owner(actor, organization)
    if team is not None and team.organization_id != organization.pk:
        raise ValidationError({"team": ["No such team in this organization."]})
    token, _ = tokens.make_token(INVITATION_KIND)
    invitation = Invitation.objects.create(
        organization=organization,
        email=email,
        role=role,
        team=team,
        token_digest=tokens.digest(token),
        invited_by=actor.user,
        expires_at=timezone.now() + timedelta(days=settings.DC_INVITATION_DAYS),
    )
    audit_record(
        actor=actor,
        action="invitation.create",
        organization=organization,
        obj=invitation,
        object_repr=email,
        data={"role": role},
    )
    link = accept_url.format(token=token)
    transaction.on_commit(
        lambda: send_mail(
            f"Invitation to {organization.name} on dockercloud",
            f"{actor.name} invited you to the organization {organization.name} as {role}.\n\n"
            f"Accept within {settings.DC_INVITATION_DAYS} days: {link}\n",
            None,
            [email],
        )
    )
    return invitation, token


@transaction.atomic
def invitation_accept(*, actor: Actor, token: str) -> Membership:
    """Join the organization of a pending invitation; the token works once."""
    now = timezone.now()
    invitation = Invitation.objects.filter(token_digest=tokens.digest(token)).first()
    claimed = 0
    if invitation is not None:
        claimed = Invitation.objects.filter(
            pk=invitation.pk, accepted_at=None, revoked_at=None, expires_at__gt=now
        ).update(accepted_at=now, accepted_by=actor.person)
    if invitation is None or not claimed:
        state = invitation.state if invitation else "unknown"
        message = {
            "accepted": "This invitation has already been used.",
            "expired": "This invitation has expired. Ask for a new one.",
            "revoked": "This invitation was revoked.",
        }.get(state, "This invitation link is not valid.")
        raise ValidationError({"token": [message]})
    org = invitation.organization
    membership, created = Membership.objects.get_or_create(
        organization=org, user=actor.person, defaults={"role": invitation.role}
    )
    if invitation.team is not None:
        invitation.team.members.add(actor.person)
    audit_record(
        actor=actor,
        action="invitation.accept",
        organization=org,
        obj=invitation,
        object_repr=invitation.email,
        data={"role": membership.role, "new_member": created},
    )
    return membership


@transaction.atomic
def invitation_revoke(*, actor: Actor, invitation: Invitation) -> None:
    Invitation.objects.filter(pk=invitation.pk, accepted_at=None).update(revoked_at=timezone.now())
    audit_record(
        actor=actor,
        action="invitation.revoke",
        organization=invitation.organization,
        obj=invitation,
        object_repr=invitation.email,
    )


@transaction.atomic
def service_account_create(
    *, actor: Actor, organization: Organization, name: str, role: str = Role.MEMBER
) -> User:
    """A member that belongs to the organization, not to a person; its keys outlive staff."""
    try:
        validate_namespace(name)
    except ValidationError as exc:
        raise ValidationError({"name": exc.messages}) from None
    if role not in (Role.MEMBER, Role.ADMIN):
        raise ValidationError({"role": ["A service account is a member or an admin."]})
    username = f"{organization.name}+{name}"
    if User.objects.filter(username=username).exists():
        raise ValidationError({"name": [f"A service account named '{name}' already exists."]})
    account = User(username=username, service_org=organization)
    account.set_unusable_password()
    account.save()
    Membership.objects.create(organization=organization, user=account, role=role)
    audit_record(
        actor=actor, action="service_account.create", organization=organization, obj=account
    )
    return account


@transaction.atomic
def service_account_delete(*, actor: Actor, account: User) -> None:
    org = account.service_org
    audit_record(actor=actor, action="service_account.delete", organization=org, obj=account)
    sockets_close(user_id=account.pk, reason="service account deleted")
    account.delete()
