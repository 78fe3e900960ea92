"""Users, organizations (the tenants), memberships, teams, invitations, keys and the audit log."""

import uuid
from typing import ClassVar

from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.utils import timezone

from .names import validate_namespace


class DockercloudUserManager(UserManager):
    """Users made outside signup (createsuperuser, scripts) get their personal organization too."""

    def create_user(self, username, email=None, password=None, **extra_fields):
        return _with_personal_org(super().create_user(username, email, password, **extra_fields))

    def create_superuser(self, username, email=None, password=None, **extra_fields):
        user = super().create_superuser(username, email, password, **extra_fields)
        return _with_personal_org(user)


def _with_personal_org(user):
    from .services import personal_org_ensure

    personal_org_ensure(user=user)
    return user


class User(AbstractUser):
    """A person, or a service account owned by an organization (`service_org` set)."""

    objects: ClassVar[DockercloudUserManager] = DockercloudUserManager()

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    service_org = models.ForeignKey(
        "Organization",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="service_accounts",
        help_text="Set for service accounts: keys that belong to the organization, not a person.",
    )

    @property
    def is_service_account(self) -> bool:
        return self.service_org_id is not None


class Organization(models.Model):
    """The tenant and API namespace. Every user has a personal one named after them."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=30, unique=True, validators=[validate_namespace])
    display_name = models.CharField(max_length=100, blank=True)
    personal_for = models.OneToOneField(
        User, null=True, blank=True, on_delete=models.CASCADE, related_name="personal_org"
    )
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"


class Membership(models.Model):
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="memberships"
    )
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "user"], name="membership_unique")
        ]
        ordering = ["user__username"]

    def __str__(self) -> str:
        return f"{self.user} in {self.organization} ({self.role})"


class Permission(models.TextChoices):
    READ = "read"
    WRITE = "write"
    ADMIN = "admin"


class Team(models.Model):
    """A group of members with one permission level on the organization's resources."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="teams")
    name = models.CharField(max_length=50)
    permission = models.CharField(max_length=5, choices=Permission.choices, default=Permission.READ)
    members = models.ManyToManyField(User, blank=True, related_name="teams")
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "name"], name="team_unique")]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Invitation(models.Model):
    """An email invitation; the token is single-use, expires, and is stored as a digest only."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="invitations"
    )
    email = models.EmailField()
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL)
    token_digest = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    created = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return self.email

    @property
    def state(self) -> str:
        if self.accepted_at:
            return "accepted"
        if self.revoked_at:
            return "revoked"
        if self.expires_at <= timezone.now():
            return "expired"
        return "pending"


class ApiKey(models.Model):
    """An API key: shown once, stored as a lookup prefix plus a SHA-256 digest."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_keys")
    label = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, unique=True)
    digest = models.CharField(max_length=64)
    read_only = models.BooleanField(default=False)
    organization = models.ForeignKey(
        Organization,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="When set, the key only works on this organization.",
    )
    created = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return self.label

    def is_usable(self) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > timezone.now()


class SshKey(models.Model):
    """A user's SSH public key, distributed to nodes' authorized_keys."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="ssh_keys")
    label = models.CharField(max_length=100)
    public_key = models.TextField()
    fingerprint = models.CharField(max_length=100)
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "fingerprint"], name="sshkey_unique")
        ]
        ordering = ["-created"]

    def __str__(self) -> str:
        return self.label


class AuditEntry(models.Model):
    """Who did what to which object, when, from where. Kept when the actor is deleted."""

    organization = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.CASCADE, related_name="audit_entries"
    )
    actor = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_name = models.CharField(max_length=150)
    action = models.CharField(max_length=64)
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=200, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    data = models.JSONField(default=dict, blank=True)
    created = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [models.Index(fields=["organization", "-created"], name="audit_org_created")]

    def __str__(self) -> str:
        return f"{self.actor_name} {self.action} {self.object_repr}"
