"""`/api/v1/orgs/<ns>/byo-ssh/`: bring your own host over SSH. Secrets are write-only."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from accounts.api.base import OrgScopedViewSet
from core.api import StrictFieldsMixin
from core.publicurl import public_base
from nodes import services as node_services
from nodes.api import node_uri
from nodes.api.base import InfraViewSet, action_uri
from nodes.models import Action

from . import selectors, services
from .install import install_command
from .models import SshInstall


class SshInstallInputSerializer(StrictFieldsMixin, serializers.Serializer):
    """Shape only; `services.ssh_install_create` owns the rules."""

    host = serializers.CharField(max_length=255)
    port = serializers.IntegerField(default=22)
    username = serializers.CharField(max_length=32, default="root")
    password = serializers.CharField(
        required=False, allow_blank=True, trim_whitespace=False, max_length=1024, write_only=True
    )
    private_key = serializers.CharField(
        required=False, allow_blank=True, trim_whitespace=False, max_length=16384, write_only=True
    )
    host_key_fingerprint = serializers.CharField(required=False, allow_blank=True, max_length=100)


class ActionSummarySerializer(serializers.ModelSerializer):
    resource_uri = serializers.SerializerMethodField()

    class Meta:
        model = Action
        fields = [
            "uuid", "action", "state", "start_date", "end_date", "error", "logs", "resource_uri",
        ]  # fmt: skip

    def get_resource_uri(self, obj) -> str:
        return action_uri(obj)


class SshInstallSerializer(serializers.ModelSerializer):
    state = serializers.CharField(source="action.state")
    expected_host_key_fingerprint = serializers.CharField(source="expected_fingerprint")
    node = serializers.SerializerMethodField()
    node_uuid = serializers.UUIDField(source="node.uuid", default=None)
    action = ActionSummarySerializer()
    resource_uri = serializers.SerializerMethodField()

    class Meta:
        model = SshInstall
        fields = [
            "uuid", "host", "port", "username", "auth_method", "state", "error",
            "host_key_type", "host_key_fingerprint", "expected_host_key_fingerprint",
            "node", "node_uuid", "action", "created", "finished_at", "resource_uri",
        ]  # fmt: skip

    def get_node(self, obj) -> str | None:
        return node_uri(obj.node) if obj.node else None

    def get_resource_uri(self, obj) -> str:
        return services.ssh_install_uri(obj.organization, obj.uuid)


class SshInstallViewSet(OrgScopedViewSet):
    """POST (write permission) runs the install command on a host over SSH; 202 + the action."""

    serializer_class = SshInstallSerializer
    lookup_field = "uuid"
    lookup_value_converter = "uuid"
    verb_map = {"create": "change"}

    def list(self, request, ns=None):
        page = self.paginate_queryset(selectors.ssh_installs_list(organization=self.organization))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def retrieve(self, request, ns=None, uuid=None):
        install = selectors.ssh_install_get(organization=self.organization, uuid=uuid)
        return Response(self.get_serializer(install).data)

    @extend_schema(request=SshInstallInputSerializer, responses={202: SshInstallSerializer})
    def create(self, request, ns=None):
        serializer = SshInstallInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        install: SshInstall = services.ssh_install_create(
            actor=self.actor,
            organization=self.organization,
            base_url=public_base(request),
            user_agent=request.META.get("HTTP_USER_AGENT", ""),
            **serializer.validated_data,
        )
        return Response(
            self.get_serializer(install).data,
            status=status.HTTP_202_ACCEPTED,
            headers={"X-DockerCloud-Action-URI": action_uri(install.action)},
        )


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(read_only=True)
    command = serializers.CharField(read_only=True)


class TokenViewSet(InfraViewSet):
    """`/api/infra/v1/[<ns>/]token/` (Docker Cloud's): POST makes a single-use registration
    token and the one-line install command that turns a host into a node (BYO)."""

    serializer_class = TokenSerializer
    verb_map = {"create": "change"}

    def create(self, request, ns=None):
        _, plaintext = node_services.registration_token_create(
            actor=self.actor, organization=self.organization
        )
        base = public_base(request)
        body = {"token": plaintext, "command": install_command(base, plaintext)}
        return Response(body, status=status.HTTP_201_CREATED)
