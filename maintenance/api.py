"""`/api/v1/orgs/<ns>/maintenance/`: the organization's maintenance settings (GET; PATCH by
its admins), its image report (`images/`) and one node's maintenance state (`nodes/<uuid>/`)."""

from django.core.exceptions import ValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from accounts.api.base import OrgScopedViewSet
from accounts.selectors import teams_list
from core.api import StrictFieldsMixin
from nodes.selectors import node_get

from . import selectors, services
from .models import MAX_KEEP_PATTERNS, MAX_LOG_FILES_KEPT

HISTORY = 100


class SettingsSerializer(serializers.Serializer):
    ssh_user = serializers.CharField()
    ssh_team = serializers.UUIDField(allow_null=True, help_text="null: every member's keys")
    clock_skew_max = serializers.FloatField(allow_null=True, help_text="seconds; null: default")
    clock_sync_command = serializers.CharField(allow_blank=True)
    log_files_kept = serializers.IntegerField(allow_null=True)
    image_unused_minutes = serializers.IntegerField(allow_null=True)
    image_keep = serializers.ListField(child=serializers.CharField())
    effective = serializers.DictField(read_only=True, help_text="the values in force")


class SettingsInputSerializer(StrictFieldsMixin, serializers.Serializer):
    """Shape only; `services.settings_update` owns the rules."""

    ssh_user = serializers.CharField(max_length=32)
    ssh_team = serializers.UUIDField(allow_null=True)
    clock_skew_max = serializers.FloatField(allow_null=True, min_value=0.01, max_value=3600)
    clock_sync_command = serializers.CharField(allow_blank=True, max_length=1000)
    log_files_kept = serializers.IntegerField(
        allow_null=True, min_value=0, max_value=MAX_LOG_FILES_KEPT
    )
    image_unused_minutes = serializers.IntegerField(allow_null=True, min_value=1, max_value=525600)
    image_keep = serializers.ListField(
        child=serializers.CharField(max_length=255), max_length=MAX_KEEP_PATTERNS
    )


class ImageSerializer(serializers.Serializer):
    id = serializers.CharField()
    tags = serializers.ListField(child=serializers.CharField())
    size = serializers.IntegerField()
    unused_seconds = serializers.FloatField()


class NodeImagesSerializer(serializers.Serializer):
    node = serializers.UUIDField(source="node.uuid")
    node_name = serializers.SerializerMethodField()
    checked_at = serializers.DateTimeField(source="images_checked_at", allow_null=True)
    reclaimable_bytes = serializers.IntegerField(source="images_reclaimable")
    candidates = ImageSerializer(source="images_candidates", many=True)

    def get_node_name(self, obj) -> str:
        return str(obj.node)


class RemovalSerializer(serializers.Serializer):
    node = serializers.UUIDField(source="node.uuid", allow_null=True, default=None)
    node_name = serializers.CharField()
    image_id = serializers.CharField()
    tags = serializers.ListField(child=serializers.CharField())
    size = serializers.IntegerField()
    unused_seconds = serializers.FloatField()
    removed_at = serializers.DateTimeField()


class ImageReportSerializer(serializers.Serializer):
    reclaimable_bytes = serializers.IntegerField()
    nodes = NodeImagesSerializer(many=True)
    history = RemovalSerializer(many=True)


class NodeMaintenanceSerializer(serializers.Serializer):
    node = serializers.UUIDField(source="state.node.uuid")
    clock_skew = serializers.FloatField(source="state.node.clock_skew", allow_null=True)
    clock_skew_max = serializers.FloatField()
    clock_flagged = serializers.BooleanField(source="state.clock_flagged")
    clock_synced_at = serializers.DateTimeField(source="state.clock_synced_at", allow_null=True)
    clock_skew_before = serializers.FloatField(source="state.clock_skew_before", allow_null=True)
    clock_skew_after = serializers.FloatField(source="state.clock_skew_after", allow_null=True)
    keys_count = serializers.IntegerField(source="state.keys_count")
    keys_pushed_at = serializers.DateTimeField(source="state.keys_pushed_at", allow_null=True)
    push_error = serializers.CharField(source="state.push_error")
    images = NodeImagesSerializer(source="state")
    history = RemovalSerializer(many=True)


def settings_body(row) -> dict:
    return {
        "ssh_user": row.ssh_user,
        "ssh_team": row.ssh_team.uuid if row.ssh_team_id else None,
        "clock_skew_max": row.clock_skew_max,
        "clock_sync_command": row.clock_sync_command,
        "log_files_kept": row.log_files_kept,
        "image_unused_minutes": row.image_unused_minutes,
        "image_keep": row.image_keep,
        "effective": selectors.effective(row),
    }


class MaintenanceViewSet(OrgScopedViewSet):
    serializer_class = SettingsSerializer
    verb_map = {"partial_update": "manage", "retrieve": "view", "images": "view", "node": "view"}

    def retrieve(self, request, ns=None):
        row = selectors.settings_get(organization=self.organization)
        return Response(SettingsSerializer(settings_body(row)).data)

    @extend_schema(request=SettingsInputSerializer, responses=SettingsSerializer)
    def partial_update(self, request, ns=None):
        serializer = SettingsInputSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        changes = dict(serializer.validated_data)
        if changes.get("ssh_team") is not None:
            team = teams_list(organization=self.organization).filter(uuid=changes["ssh_team"])
            if not team.exists():
                raise ValidationError({"ssh_team": ["No such team in this organization."]})
            changes["ssh_team"] = team.get()
        row = services.settings_update(
            actor=self.actor, organization=self.organization, changes=changes
        )
        return Response(SettingsSerializer(settings_body(row)).data)

    @extend_schema(responses=ImageReportSerializer)
    def images(self, request, ns=None):
        states = list(selectors.node_states(organization=self.organization))
        body = {
            "reclaimable_bytes": sum(s.images_reclaimable for s in states),
            "nodes": states,
            "history": selectors.removals(organization=self.organization)[:HISTORY],
        }
        return Response(ImageReportSerializer(body).data)

    @extend_schema(responses=NodeMaintenanceSerializer)
    def node(self, request, ns=None, uuid=None):
        node = node_get(organization=self.organization, uuid=uuid)
        state = selectors.node_state(node=node)
        row = selectors.settings_get(organization=self.organization)
        body = {
            "state": state,
            "clock_skew_max": selectors.effective(row)["clock_skew_max"],
            "history": selectors.removals(organization=self.organization, node=node)[:HISTORY],
        }
        return Response(NodeMaintenanceSerializer(body).data)
