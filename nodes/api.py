"""Docker Cloud API v1 (infra) for nodes and BYO tokens: `/api/infra/v1/[<ns>/]...`."""

from rest_framework import permissions, status, viewsets
from rest_framework.response import Response

from accounts.audit import Actor
from accounts.permissions import OrgPermission
from agentapi.views import install_command, public_base
from core.dockercloud import namespace_access, rfc1123

from . import selectors, services
from .models import Node, NodeState

INFRA = "/api/infra/v1/"


class InfraViewSet(viewsets.GenericViewSet):
    """Resolves the optional namespace into `self.access` (404 if not the caller's)."""

    permission_classes = [permissions.IsAuthenticated, OrgPermission]
    verb_map: dict[str, str] = {}

    def check_permissions(self, request):
        if not request.user.is_authenticated:
            self.permission_denied(request)
        self.access = namespace_access(request, self.kwargs.get("ns"))
        super().check_permissions(request)

    @property
    def organization(self):
        return self.access.organization


def node_uri(node: Node, ns: str | None = None) -> str:
    return f"{INFRA}{node.organization.name}/node/{node.uuid}/"


def node_body(node: Node) -> dict:
    return {
        "uuid": str(node.uuid),
        "resource_uri": node_uri(node),
        "state": node.state,
        "external_fqdn": node.external_fqdn,
        "nickname": node.nickname or node.external_fqdn,
        "hostname": node.hostname,
        "node_cluster": None,
        "node_type": "/api/infra/v1/nodetype/byo/byo/",
        "region": "/api/infra/v1/region/byo/byo/",
        "availability_zone": None,
        "public_ip": node.public_ip,
        "private_ips": [{"name": "", "cidr": a} for a in node.addresses if a != node.public_ip],
        "tunnel": "agent" if node.connection == "tunnel" else None,
        "connection": node.connection or None,
        "docker_version": node.docker_version,
        "agent_version": node.agent_version,
        "docker_execdriver": "native-0.2",
        "docker_graphdriver": "overlay2",
        "cpu": node.cpu,
        "memory": node.memory,
        "disk": node.disk,
        "os": node.os,
        "current_num_containers": node.current_num_containers,
        "last_seen": rfc1123(node.last_seen),
        "deployed_datetime": rfc1123(node.deployed_datetime),
        "destroyed_datetime": rfc1123(node.destroyed_datetime),
        "tags": node.tags,
        "last_metric": node.last_metric,
    }


class NodeViewSet(InfraViewSet):
    lookup_field = "uuid"
    lookup_value_converter = "uuid"
    verb_map = {"destroy": "terminate"}

    def list(self, request, ns=None):
        nodes = selectors.nodes_list(organization=self.organization).select_related("organization")
        if request.query_params.get("state"):
            nodes = nodes.filter(state=request.query_params["state"])
        if request.query_params.get("uuid__startswith"):
            nodes = nodes.filter(uuid__startswith=request.query_params["uuid__startswith"])
        page = self.paginate_queryset(nodes)
        return self.get_paginated_response([node_body(n) for n in page])

    def retrieve(self, request, ns=None, uuid=None):
        return Response(node_body(selectors.node_get(organization=self.organization, uuid=uuid)))

    def destroy(self, request, ns=None, uuid=None):
        node = selectors.node_get(organization=self.organization, uuid=uuid)
        if node.state != NodeState.TERMINATED:
            services.node_terminate_byo(actor=Actor.from_request(request), node=node)
            node.refresh_from_db()
        return Response(node_body(node), status=status.HTTP_202_ACCEPTED)


class TokenViewSet(InfraViewSet):
    """POST: a single-use registration token and the one-line install command (BYO hosts)."""

    verb_map = {"create": "change"}

    def create(self, request, ns=None):
        _, plaintext = services.registration_token_create(
            actor=Actor.from_request(request), organization=self.organization
        )
        base = public_base(request)
        body = {"token": plaintext, "command": install_command(base, plaintext)}
        return Response(body, status=status.HTTP_201_CREATED)
