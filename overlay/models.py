"""An organization's overlay: its swarm, its network and the addresses given out in it."""

import uuid

from django.db import models

from accounts.models import Organization
from nodes.models import Node

# Join tokens, encrypted with the organization's data key (core.crypto), like credentials.
SECRET_FIELDS = ("worker_token_encrypted", "manager_token_encrypted")


class OrgOverlay(models.Model):
    """One per organization: the swarm its Deployed nodes form and the attachable overlay
    network on it, whose subnet the control plane allocated from DC_OVERLAY_POOL."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organization = models.OneToOneField(
        Organization, on_delete=models.CASCADE, related_name="overlay"
    )
    subnet = models.CharField(max_length=43, unique=True)  # CIDR; no two organizations overlap
    gateway = models.GenericIPAddressField()
    encrypted = models.BooleanField()
    swarm_id = models.CharField(max_length=64, blank=True)
    network_id = models.CharField(max_length=64, blank=True)
    worker_token_encrypted = models.TextField(blank=True)
    manager_token_encrypted = models.TextField(blank=True)
    # A node left and the tokens it knew are not rotated yet (the swarm was electing a new
    # leader when it left): the next reconcile pass rotates them.
    rotate_pending = models.BooleanField(default=False)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"{self.organization} {self.subnet}"

    @property
    def network_name(self) -> str:
        """The docker network's name on every node of the swarm."""
        return f"dc-{self.uuid.hex[:12]}"


class OverlayAddress(models.Model):
    """An address of the organization's subnet held by one container (by its uuid) until the
    container is terminated: redeployed elsewhere, the container keeps it."""

    overlay = models.ForeignKey(OrgOverlay, on_delete=models.CASCADE, related_name="addresses")
    address = models.GenericIPAddressField()
    holder = models.UUIDField()
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["overlay", "address"], name="overlay_address_once"),
            models.UniqueConstraint(fields=["overlay", "holder"], name="overlay_holder_once"),
        ]

    def __str__(self):
        return self.address


class MemberStatus(models.TextChoices):
    JOINING = "Joining"
    READY = "Ready"
    UNREACHABLE = "Unreachable"  # cannot reach its peers: `reason` says which and where
    LEAVING = "Leaving"
    LEFT = "Left"


class OverlayMember(models.Model):
    """A node's place in its organization's swarm, as the control plane last saw it."""

    node = models.OneToOneField(Node, on_delete=models.CASCADE, related_name="overlay_member")
    overlay = models.ForeignKey(OrgOverlay, on_delete=models.CASCADE, related_name="members")
    swarm_node_id = models.CharField(max_length=64, blank=True)
    manager = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=MemberStatus.choices)
    reason = models.CharField(max_length=500, blank=True)  # "overlay: cannot reach 10.0.0.5:7946"
    updated = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"{self.node} {self.status}"
