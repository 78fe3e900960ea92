"""Nodes and BYO tokens: `/api/infra/v1/[<ns>/]node/` and `/api/infra/v1/[<ns>/]token/`."""

import uuid

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.response import Response

from core.api import StrictFieldsMixin
from core.dockercloud import rfc1123
from core.schema import ERROR

from .. import lifecycle, selectors
from ..models import Node, NodeState
from .base import INFRA, InfraViewSet, with_action


def node_uri(node: Node) -> str:
    return f"{INFRA}{node.organization.name}/node/{node.uuid}/"


def node_body(node: Node) -> dict:
    byo = node.provider == "byo"
    cluster = node.node_cluster  # no query when the column is null
    return {
        "uuid": str(node.uuid),
        "resource_uri": node_uri(node),
        "state": node.state,
        "external_fqdn": node.external_fqdn,
        "nickname": node.nickname or node.external_fqdn,
        "hostname": node.hostname,
        "node_cluster": (
            f"{INFRA}{node.organization.name}/nodecluster/{cluster.uuid}/"
            if cluster is not None
            else None
        ),
        # BYO nodes belong to no provider: Docker Cloud's catalog had no entry for them either.
        "node_type": None if byo else f"{INFRA}nodetype/{node.provider}/{node.node_type}/",
        "region": None if byo else f"{INFRA}region/{node.provider}/{node.region}/",
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
        # Not Docker Cloud's: why the node is Unreachable (null otherwise). Its clients ignore
        # fields they do not know (the Python SDK sets each as an attribute).
        "unreachable_reason": (
            node.unreachable_reason if node.state == NodeState.UNREACHABLE else None
        ),
    }


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


class NodeSerializer(serializers.Serializer):
    """Docker Cloud's node object (read); writes take `nickname` and `tags`."""

    uuid = serializers.UUIDField(read_only=True)
    resource_uri = serializers.CharField(read_only=True)
    state = serializers.CharField(read_only=True)
    nickname = serializers.CharField(required=False, allow_blank=True, max_length=255)
    tags = serializers.ListField(child=serializers.DictField(), required=False)


class NodeUpdateSerializer(StrictFieldsMixin, NodeSerializer):
    pass


# Verbs answer the node with 202 and the action to follow (X-DockerCloud-Action-URI).
ACCEPTED = {202: NodeSerializer}


NODE_FILTERS = {
    "uuid": "uuid",
    "uuid__startswith": "uuid__startswith",
    "state": "state",
    "docker_version": "docker_version",
}


class NodeViewSet(InfraViewSet):
    serializer_class = NodeSerializer
    lookup_field = "uuid"
    lookup_value_converter = "uuid"
    verb_map = {
        "destroy": "terminate",
        "docker_upgrade": "upgrade",
        "agent_upgrade": "agent_upgrade",
        "health_check": "health_check",
    }
    resource = "node"  # a credential grant may admit some verbs on some nodes

    def _node(self, uuid) -> Node:
        node = selectors.node_get(organization=self.organization, uuid=uuid)
        self.check_object_permissions(self.request, node)
        return node

    def _verb(self, name: str, verb, node: Node, **kwargs):
        return self.run_verb(
            name, verb, object_uri=node_uri(node), object_uuid=node.uuid, node=node, **kwargs
        )

    def list(self, request, ns=None):
        nodes = selectors.nodes_list(organization=self.organization).select_related(
            "organization", "node_cluster"
        )
        filters = {
            field: request.query_params[param]
            for param, field in NODE_FILTERS.items()
            if request.query_params.get(param)
        }
        if request.query_params.get("node_cluster"):
            tail = request.query_params["node_cluster"].rstrip("/").rsplit("/", 1)[-1]
            filters["node_cluster__uuid"] = tail if _is_uuid(tail) else None
        page = self.paginate_queryset(nodes.filter(**filters)) or []  # never None: all paginated
        return self.get_paginated_response([node_body(n) for n in page])

    def retrieve(self, request, ns=None, uuid=None):
        return Response(node_body(self._node(uuid)))

    @extend_schema(request=NodeUpdateSerializer, responses=ACCEPTED)
    def partial_update(self, request, ns=None, uuid=None):
        node = self._node(uuid)
        data = NodeUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        act = self._verb(
            "Node Update",
            lifecycle.node_update,
            node,
            nickname=request.data.get("nickname"),
            tags=request.data.get("tags"),
        )
        return with_action(node_body(node), act)

    @extend_schema(responses={**ACCEPTED, 400: ERROR})  # a node that is ending already
    def destroy(self, request, ns=None, uuid=None):
        node = self._node(uuid)
        act = self._verb("Node Terminate", lifecycle.node_terminate, node)
        return with_action(node_body(node), act)

    @extend_schema(responses=ACCEPTED)
    @action(detail=True, methods=["post"], url_path="docker-upgrade")
    def docker_upgrade(self, request, ns=None, uuid=None):
        node = self._node(uuid)
        act = self._verb("Node Upgrade Docker", lifecycle.node_docker_upgrade, node)
        return with_action(node_body(node), act)

    @extend_schema(responses=ACCEPTED)
    @action(detail=True, methods=["post"], url_path="agent-upgrade")
    def agent_upgrade(self, request, ns=None, uuid=None):
        """Install this control plane's agent on the node (not in Docker Cloud's API)."""
        node = self._node(uuid)
        act = self._verb("Node Upgrade Agent", lifecycle.node_agent_upgrade, node)
        return with_action(node_body(node), act)

    @extend_schema(responses=ACCEPTED)
    @action(detail=True, methods=["post"], url_path="health-check")
    def health_check(self, request, ns=None, uuid=None):
        node = self._node(uuid)
        act = self._verb("Node Health Check", lifecycle.node_health_check, node)
        return with_action(node_body(node), act)
