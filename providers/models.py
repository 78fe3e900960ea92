"""Provider credentials (encrypted under each organization's data key) and the catalog."""

import uuid

from django.db import models
from django.utils import timezone

from accounts.models import Organization, Team, User


class OrgDataKey(models.Model):
    """An organization's data key (a Fernet key), stored wrapped by the master keys.

    Every secret of the organization is encrypted under it (providers.crypto); rotating the
    master keys re-wraps this row only, and exporting the organization re-wraps it for the
    other installation's keys.
    """

    organization = models.OneToOneField(
        Organization, on_delete=models.CASCADE, related_name="data_key"
    )
    wrapped_key = models.TextField()
    created = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"data key of {self.organization}"


class OrgExternalId(models.Model):
    """The organization's external id for AWS roles (sts:ExternalId): unique, not secret."""

    organization = models.OneToOneField(
        Organization, on_delete=models.CASCADE, related_name="aws_external_id"
    )
    value = models.CharField(max_length=64, unique=True)
    created = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.value


class Credential(models.Model):
    """An organization's credential for one provider.

    The driver's secret fields live in `secret_encrypted` (JSON, encrypted under the
    organization's data key);
    non-secret fields (an AWS role ARN and the external id) in `config`. `hint` is at most
    the last 4 characters of the driver's hint field. Read secrets with `get_secret(name)`.
    `allowed_options` ({option path: [values]}, set by admins) are the provider options any
    user of the credential may choose beyond the driver's defaults (providers.options).
    """

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="credentials"
    )
    provider = models.CharField(max_length=32)
    name = models.CharField(max_length=100)
    secret_encrypted = models.TextField(blank=True)
    secret_fields = models.JSONField(default=list, blank=True, help_text="Names only.")
    config = models.JSONField(default=dict, blank=True)
    allowed_options = models.JSONField(default=dict, blank=True)
    hint = models.CharField(max_length=8, blank=True)
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created = models.DateTimeField(default=timezone.now)
    updated = models.DateTimeField(default=timezone.now)
    validated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="credential_name_unique")
        ]
        indexes = [
            models.Index(fields=["organization", "provider"], name="credential_org_provider")
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def grant_credential_uuid(self):
        """The credential a grant must cover to admit a verb on this object (the access
        policy's question): itself."""
        return self.uuid

    def secrets(self) -> dict[str, str]:
        """The decrypted secret fields (only drivers and services call this)."""
        from .crypto import org_decrypt_json

        return org_decrypt_json(self.organization, self.secret_encrypted)

    def get_secret(self, name: str) -> str:
        return self.secrets().get(name, "")


class CredentialGrant(models.Model):
    """A team's `use` of one credential: its members may deploy node clusters with it (and
    scale, redeploy and terminate those clusters) without the organization-wide `write` level
    that changing the credential needs. Gone with the credential or the team."""

    credential = models.ForeignKey(Credential, on_delete=models.CASCADE, related_name="grants")
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="credential_grants")
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["team__name"]
        constraints = [
            models.UniqueConstraint(fields=["credential", "team"], name="credential_grant_unique")
        ]

    def __str__(self) -> str:
        return f"{self.team} may use {self.credential}"


class Provider(models.Model):
    """A provider of the catalog, refreshed from its driver (`catalog_refresh`)."""

    name = models.CharField(max_length=32, unique=True)
    label = models.CharField(max_length=100)
    available = models.BooleanField(default=True)
    unavailable_reason = models.CharField(max_length=300, blank=True)
    listed = models.BooleanField(default=True, help_text="False once its driver is gone.")
    refreshed = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Region(models.Model):
    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="regions")
    name = models.CharField(max_length=64)
    label = models.CharField(max_length=100)
    available = models.BooleanField(default=True)
    listed = models.BooleanField(default=True)

    class Meta:
        ordering = ["provider__name", "name"]
        constraints = [models.UniqueConstraint(fields=["provider", "name"], name="region_unique")]

    def __str__(self) -> str:
        return f"{self.provider.name}/{self.name}"


class NodeType(models.Model):
    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="node_types")
    name = models.CharField(max_length=64)
    label = models.CharField(max_length=100)
    regions = models.ManyToManyField(Region, related_name="node_types", blank=True)
    cpu = models.PositiveIntegerField(default=0)
    memory = models.PositiveIntegerField(default=0, help_text="MB")
    disk = models.PositiveIntegerField(default=0, help_text="GB")
    available = models.BooleanField(default=True)
    listed = models.BooleanField(default=True)

    class Meta:
        ordering = ["provider__name", "name"]
        constraints = [models.UniqueConstraint(fields=["provider", "name"], name="nodetype_unique")]

    def __str__(self) -> str:
        return f"{self.provider.name}/{self.name}"


class AvailabilityZone(models.Model):
    region = models.ForeignKey(Region, on_delete=models.CASCADE, related_name="zones")
    name = models.CharField(max_length=64)
    available = models.BooleanField(default=True)
    listed = models.BooleanField(default=True)

    class Meta:
        ordering = ["region__provider__name", "region__name", "name"]
        constraints = [models.UniqueConstraint(fields=["region", "name"], name="az_unique")]

    def __str__(self) -> str:
        return f"{self.region}/{self.name}"
