"""Writes on users: signup, API keys and SSH keys."""

import base64
import hashlib
from datetime import datetime, timedelta

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.serialization import load_ssh_public_key
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from core import tokens

from ..audit import Actor, audit_record
from ..models import ApiKey, Membership, Organization, Role, SshKey, User
from ..names import validate_namespace
from .orgs import _check_namespace_free
from .sockets import sockets_close

APIKEY_KIND = "dck"
# last_used is written at most this often per key, to keep the hot path read-only.
LAST_USED_RESOLUTION = timedelta(seconds=60)


@transaction.atomic
def user_signup(*, username: str, email: str, password: str, ip: str | None = None) -> User:
    """Create a user and their personal organization (named after them, they own it)."""
    _check_namespace_free(username, field="username")
    errors = {}
    try:
        validate_email(email)
    except ValidationError as exc:
        errors["email"] = exc.messages
    user = User(username=username, email=email)
    try:
        validate_password(password, user)
    except ValidationError as exc:
        errors["password"] = exc.messages
    if errors:
        raise ValidationError(errors)
    user.set_password(password)
    user.save()
    org = Organization.objects.create(name=username, personal_for=user)
    Membership.objects.create(organization=org, user=user, role=Role.OWNER)
    audit_record(actor=Actor(user=user, ip=ip), action="user.signup", organization=org, obj=user)
    return user


def personal_org_ensure(*, user: User) -> Organization | None:
    """Give a user made outside signup (createsuperuser, admin) their personal organization."""
    if user.is_service_account:
        return None
    org = Organization.objects.filter(personal_for=user).first()
    if org is None and not _namespace_taken(user.username):
        org = Organization.objects.create(name=user.username, personal_for=user)
        Membership.objects.create(organization=org, user=user, role=Role.OWNER)
    return org


def _namespace_taken(name: str) -> bool:
    try:
        validate_namespace(name)
    except ValidationError:
        return True
    return Organization.objects.filter(name=name).exists()


@transaction.atomic
def apikey_create(
    *,
    actor: Actor,
    user: User,
    label: str,
    read_only: bool = False,
    organization: Organization | None = None,
    expires_at: datetime | None = None,
) -> tuple[ApiKey, str]:
    """Create a key and return it with its plaintext, which is never stored or shown again."""
    errors = {}
    if not label or len(label) > 100:
        errors["label"] = ["Give a label of 1 to 100 characters."]
    if (
        organization is not None
        and not Membership.objects.filter(organization=organization, user=user).exists()
    ):
        errors["organization"] = ["Not a member of this organization."]
    if expires_at is not None and expires_at <= timezone.now():
        errors["expires_at"] = ["The expiry must be in the future."]
    if errors:
        raise ValidationError(errors)
    plaintext, prefix = tokens.make_token(APIKEY_KIND)
    key = ApiKey.objects.create(
        user=user,
        label=label,
        prefix=prefix,
        digest=tokens.digest(plaintext),
        read_only=read_only,
        organization=organization,
        expires_at=expires_at,
    )
    audit_record(
        actor=actor,
        action="apikey.create",
        organization=user.service_org or organization,
        obj=key,
        object_repr=f"{user.username}: {label}",
        data={"read_only": read_only, "organization": organization.name if organization else None},
    )
    return key, plaintext


@transaction.atomic
def apikey_revoke(*, actor: Actor, key: ApiKey) -> None:
    """Revoke a key: refused from now on, and its open streams close (in every web process)."""
    ApiKey.objects.filter(pk=key.pk, revoked_at=None).update(revoked_at=timezone.now())
    sockets_close(key_id=key.pk, reason="API key revoked")
    audit_record(
        actor=actor,
        action="apikey.revoke",
        organization=key.user.service_org or key.organization,
        obj=key,
        object_repr=f"{key.user.username}: {key.label}",
    )


@transaction.atomic
def user_password_set(*, actor: Actor, user: User, password: str) -> None:
    """Set a new password (validated by the caller's form); every socket the user holds
    closes: other sessions end, and streams opened with the old password or a key reconnect."""
    user.set_password(password)
    user.save(update_fields=["password"])
    audit_record(actor=actor, action="user.password_change", obj=user)
    sockets_close(user_id=user.pk, reason="password changed")


@transaction.atomic
def user_deactivate(*, actor: Actor, user: User) -> None:
    """Refuse the user's logins and keys from now on, and close every socket they hold."""
    User.objects.filter(pk=user.pk).update(is_active=False)
    user.is_active = False
    audit_record(actor=actor, action="user.deactivate", obj=user)
    sockets_close(user_id=user.pk, reason="account deactivated")


def apikey_authenticate(*, token: str) -> ApiKey | None:
    """Return the usable key matching `token` (recording its use), or None."""
    prefix = tokens.split_token(APIKEY_KIND, token)
    if prefix is None:
        return None
    key = ApiKey.objects.select_related("user", "organization").filter(prefix=prefix).first()
    if key is None or not tokens.same_digest(token, key.digest) or not key.is_usable():
        return None
    now = timezone.now()
    if key.last_used is None or now - key.last_used > LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=key.pk).update(last_used=now)
        key.last_used = now
    return key


def ssh_fingerprint(public_key: str) -> str:
    """Validate an OpenSSH public key line and return its SHA256 fingerprint."""
    parts = public_key.strip().split()
    if len(parts) < 2:
        raise ValidationError({"public_key": ["Paste one OpenSSH public key line (type, key)."]})
    try:
        load_ssh_public_key(" ".join(parts[:2]).encode())
        blob = base64.b64decode(parts[1], validate=True)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise ValidationError({"public_key": [f"Not a valid SSH public key: {exc}"]}) from None
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    return f"SHA256:{digest}"


@transaction.atomic
def sshkey_add(*, actor: Actor, user: User, label: str, public_key: str) -> SshKey:
    fingerprint = ssh_fingerprint(public_key)
    public_key = public_key.strip()
    label = label or (public_key.split()[2] if len(public_key.split()) > 2 else fingerprint)
    if len(label) > 100:
        raise ValidationError({"label": ["At most 100 characters."]})
    if SshKey.objects.filter(user=user, fingerprint=fingerprint).exists():
        raise ValidationError({"public_key": ["You already added this key."]})
    key = SshKey.objects.create(
        user=user, label=label, public_key=public_key, fingerprint=fingerprint
    )
    audit_record(actor=actor, action="sshkey.add", obj=key, object_repr=f"{user.username}: {label}")
    return key


@transaction.atomic
def sshkey_delete(*, actor: Actor, key: SshKey) -> None:
    audit_record(
        actor=actor,
        action="sshkey.delete",
        obj=key,
        object_repr=f"{key.user.username}: {key.label}",
    )
    key.delete()
