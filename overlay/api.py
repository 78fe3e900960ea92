"""The organization's overlay, read-only: `/api/infra/v1/[<ns>/]overlay/`. Join tokens are
never part of it."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from nodes.api.base import INFRA, InfraViewSet

from . import selectors
from .models import MemberStatus


class OverlayMemberSerializer(serializers.Serializer):
    node = serializers.CharField(help_text="The node's resource URI")
    role = serializers.ChoiceField(choices=["manager", "worker"])
    status = serializers.ChoiceField(choices=MemberStatus.choices)
    reason = serializers.CharField(help_text="Why the node cannot take part, when it cannot")


class OverlaySerializer(serializers.Serializer):
    subnet = serializers.CharField(allow_null=True, help_text="CIDR; null before the first use")
    gateway = serializers.CharField(allow_null=True)
    encrypted = serializers.BooleanField(allow_null=True)
    network = serializers.CharField(allow_null=True, help_text="The docker network's name")
    members = OverlayMemberSerializer(many=True)


def overlay_body(organization) -> dict:
    overlay = selectors.overlay_get(organization=organization)
    members = selectors.members_list(organization=organization) if overlay else []
    return {
        "subnet": overlay.subnet if overlay else None,
        "gateway": overlay.gateway if overlay else None,
        "encrypted": overlay.encrypted if overlay else None,
        "network": overlay.network_name if overlay else None,
        "members": [
            {
                "node": f"{INFRA}{organization.name}/node/{m.node.uuid}/",
                "role": "manager" if m.manager else "worker",
                "status": m.status,
                "reason": m.reason,
            }
            for m in members
        ],
    }


class OverlayViewSet(InfraViewSet):
    serializer_class = OverlaySerializer
    pagination_class = None

    @extend_schema(responses=OverlaySerializer, operation_id="overlay_retrieve")
    def retrieve(self, request, ns=None):
        return Response(overlay_body(self.organization))
