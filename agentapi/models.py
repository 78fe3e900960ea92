"""Bring your own host over SSH: one request to run the install command on a user's host."""

import uuid

from django.db import models
from django.utils import timezone

from accounts.models import Organization, User
from core import crypto
from nodes.models import Action, Node, RegistrationToken

SECRET_FIELDS = ("password_encrypted", "private_key_encrypted", "token_encrypted")
# Encrypted under the master keys: `rotate_encryption_keys` must find these rows too.


class SshAuth(models.TextChoices):
    PASSWORD = "password", "password"
    KEY = "key", "private key"


class SshInstall(models.Model):
    """One attempt to turn a host into a node over SSH (paramiko, in a Celery task).

    The password or private key, and the registration token's plaintext, are encrypted at rest
    and blanked right after the attempt, whatever its outcome: the row keeps only what can be
    shown. Progress and log lines live in `action` (Pending -> In progress -> Success | Failed);
    `error` repeats a failure for the pages. The server's host key fingerprint is recorded on
    connecting (`host_key_fingerprint`); when the user gave `expected_fingerprint`, any other
    key is refused before a password or key is sent.
    """

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="ssh_installs"
    )
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    host = models.CharField(max_length=255)
    port = models.PositiveIntegerField(default=22)
    username = models.CharField(max_length=32)
    auth_method = models.CharField(max_length=8, choices=SshAuth.choices)
    password_encrypted = models.TextField(blank=True)
    private_key_encrypted = models.TextField(blank=True)
    token_encrypted = models.TextField(blank=True)
    base_url = models.CharField(max_length=255, help_text="the control plane as the host sees it")
    expected_fingerprint = models.CharField(max_length=100, blank=True)
    host_key_type = models.CharField(max_length=64, blank=True)
    host_key_fingerprint = models.CharField(max_length=100, blank=True)
    action = models.OneToOneField(Action, on_delete=models.CASCADE, related_name="ssh_install")
    registration_token = models.OneToOneField(
        RegistrationToken,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="ssh_install",
    )
    node = models.ForeignKey(
        Node, null=True, blank=True, on_delete=models.SET_NULL, related_name="ssh_installs"
    )
    error = models.TextField(blank=True)
    created = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        return f"{self.username}@{self.host}:{self.port}"

    @property
    def has_secrets(self) -> bool:
        return bool(self.password_encrypted or self.private_key_encrypted or self.token_encrypted)

    def get_secret(self, name: str) -> str | None:
        """The plaintext of `password`, `private_key` or `token`; None once blanked."""
        stored = getattr(self, f"{name}_encrypted")
        return crypto.decrypt(stored) if stored else None
