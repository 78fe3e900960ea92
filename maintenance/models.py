"""Node maintenance: each organization's settings, each node's maintenance state, and the
record of the images removed."""

from django.db import models
from django.utils import timezone

from accounts.models import Organization, Team
from nodes.models import Node

MAX_KEEP_PATTERNS = 100
MAX_LOG_FILES_KEPT = 20


class MaintenanceSettings(models.Model):
    """An organization's maintenance policy. Empty values take the control plane's defaults
    (`DC_CLOCK_SKEW_MAX`, `DC_IMAGE_UNUSED_MINUTES`, the first sync tool the host has)."""

    organization = models.OneToOneField(
        Organization, on_delete=models.CASCADE, related_name="maintenance_settings"
    )
    ssh_user = models.CharField(max_length=32, default="root")
    # None: every member's keys; a team: only its members'.
    ssh_team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL)
    clock_skew_max = models.FloatField(null=True, blank=True)
    clock_sync_command = models.CharField(max_length=1000, blank=True)
    log_files_kept = models.PositiveSmallIntegerField(null=True, blank=True)
    image_unused_minutes = models.PositiveIntegerField(null=True, blank=True)
    image_keep = models.JSONField(default=list, blank=True)
    updated = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"maintenance settings of {self.organization.name}"


class NodeMaintenance(models.Model):
    """What maintenance last did on a node (one row per node, made on first use)."""

    node = models.OneToOneField(Node, on_delete=models.CASCADE, related_name="maintenance")
    keys_digest = models.CharField(max_length=64, blank=True)
    keys_count = models.PositiveIntegerField(default=0)
    keys_pushed_at = models.DateTimeField(null=True, blank=True)
    logs_digest = models.CharField(max_length=64, blank=True)
    push_error = models.CharField(max_length=300, blank=True)
    clock_synced_at = models.DateTimeField(null=True, blank=True)
    clock_skew_before = models.FloatField(null=True, blank=True)
    clock_skew_after = models.FloatField(null=True, blank=True)
    # Still past the organization's maximum after a sync: someone should look at the host.
    clock_flagged = models.BooleanField(default=False)
    clock_error = models.CharField(max_length=300, blank=True)
    images_checked_at = models.DateTimeField(null=True, blank=True)
    # The last pass that removed images (or, before the first, the first check: the window
    # between removal passes starts then).
    images_cleaned_at = models.DateTimeField(null=True, blank=True)
    images_candidates = models.JSONField(default=list, blank=True)
    images_reclaimable = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"maintenance of {self.node}"


class ImageRemoval(models.Model):
    """One image the agent removed because no container had used it for the window."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="image_removals"
    )
    node = models.ForeignKey(Node, null=True, on_delete=models.SET_NULL, related_name="+")
    node_name = models.CharField(max_length=255)
    image_id = models.CharField(max_length=100)
    tags = models.JSONField(default=list)
    size = models.BigIntegerField(default=0)
    unused_seconds = models.FloatField(default=0)
    removed_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-removed_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.image_id[:19]} on {self.node_name}"
