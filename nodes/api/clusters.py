"""Node clusters: `/api/infra/v1/[<ns>/]nodecluster/` with deploy, docker-upgrade, scale, tags."""

from django.core.validators import RegexValidator
from django.db import transaction
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from core.api import StrictFieldsMixin
from core.dockercloud import rfc1123
from core.publicurl import public_base
from core.schema import ERROR

from .. import clusters, selectors
from ..models import NodeCluster, NodeState
from .base import INFRA, InfraViewSet, with_action


def cluster_uri(cluster: NodeCluster) -> str:
    return f"{INFRA}{cluster.organization.name}/nodecluster/{cluster.uuid}/"


def cluster_body(cluster: NodeCluster) -> dict:
    nodes = [n for n in cluster.nodes.all() if n.state != NodeState.TERMINATED]
    return {
        "uuid": str(cluster.uuid),
        "resource_uri": cluster_uri(cluster),
        "name": cluster.name,
        "nickname": cluster.nickname or cluster.name,
        "state": cluster.state,
        "provider": f"{INFRA}provider/{cluster.provider}/",
        "region": f"{INFRA}region/{cluster.provider}/{cluster.region}/",
        "node_type": f"{INFRA}nodetype/{cluster.provider}/{cluster.node_type}/",
        "disk": cluster.disk,
        "nodes": [f"{INFRA}{cluster.organization.name}/node/{n.uuid}/" for n in nodes],
        "target_num_nodes": cluster.target_num_nodes,
        "current_num_nodes": sum(1 for n in nodes if n.state == NodeState.DEPLOYED),
        "deployed_datetime": rfc1123(cluster.deployed_datetime),
        "destroyed_datetime": rfc1123(cluster.destroyed_datetime),
        "tags": cluster.tags,
        "provider_options": cluster.provider_options,
        "credential": str(cluster.credential_uuid) if cluster.credential_uuid else None,
    }


@extend_schema_field(
    {
        "oneOf": [
            {"type": "integer", "minimum": 1, "maximum": 16384},
            {"type": "string", "pattern": "^[0-9]{1,5}$"},
        ],
        "description": "GB. The docker-cloud CLI sends it as a string of digits.",
    }
)
class DiskField(serializers.Field):
    """A whole number of GB, as a number or (as the CLI sends it) a string of digits; the
    cluster service checks the range."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | str):
            raise serializers.ValidationError("Give a whole number of GB.")
        return data

    def to_representation(self, value):
        return value


class ClusterSerializer(StrictFieldsMixin, serializers.Serializer):
    """Create body (Docker Cloud's, plus our optional `credential` uuid)."""

    name = serializers.CharField(max_length=100)
    region = serializers.CharField(
        max_length=255,
        validators=[RegexValidator(r"^/api/infra/v1/region/[^/]+/[^/]+/?$", "Give a region URI.")],
    )
    node_type = serializers.CharField(
        max_length=255,
        validators=[
            RegexValidator(r"^/api/infra/v1/nodetype/[^/]+/[^/]+/?$", "Give a node type URI.")
        ],
    )
    nickname = serializers.CharField(max_length=100, required=False, allow_blank=True)
    disk = DiskField(required=False)
    target_num_nodes = serializers.IntegerField(required=False, min_value=0)
    tags = serializers.ListField(required=False)
    provider_options = serializers.DictField(required=False)
    credential = serializers.UUIDField(required=False)


# Verbs answer the cluster with 202 and the action to follow (X-DockerCloud-Action-URI).
ACCEPTED = {202: ClusterSerializer}


class ClusterUpdateSerializer(StrictFieldsMixin, serializers.Serializer):
    target_num_nodes = serializers.IntegerField(required=False, min_value=0)
    tags = serializers.ListField(required=False)


FILTERS = {"uuid": "uuid", "uuid__startswith": "uuid__startswith", "state": "state", "name": "name"}


class NodeClusterViewSet(InfraViewSet):
    serializer_class = ClusterSerializer
    lookup_field = "uuid"
    lookup_value_converter = "uuid"
    verb_map = {
        "create": "use",  # of the credential named (or implied): `cluster_create` asks
        "destroy": "terminate",
        "deploy": "deploy",
        "docker_upgrade": "upgrade",
    }
    resource = "nodecluster"  # a credential grant may admit some verbs on some clusters

    def _cluster(self, uuid) -> NodeCluster:
        cluster = selectors.cluster_get(organization=self.organization, uuid=uuid)
        self.check_object_permissions(self.request, cluster)
        return cluster

    def _verb(self, name: str, verb, cluster: NodeCluster, **kwargs):
        return self.run_verb(
            name,
            verb,
            object_uri=cluster_uri(cluster),
            object_uuid=cluster.uuid,
            cluster=cluster,
            **kwargs,
        )

    def list(self, request, ns=None):
        params = request.query_params
        qs = selectors.clusters_list(organization=self.organization).select_related("organization")
        qs = qs.filter(**{f: params[p] for p, f in FILTERS.items() if params.get(p)})
        qs = qs.prefetch_related("nodes")
        page = self.paginate_queryset(qs) or []  # never None: every list is paginated
        return self.get_paginated_response([cluster_body(c) for c in page])

    def retrieve(self, request, ns=None, uuid=None):
        return Response(cluster_body(self._cluster(uuid)))

    def create(self, request, ns=None):
        body = ClusterSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        with transaction.atomic():  # a refused create leaves no action behind
            act = self.start_action("Node Cluster Create", object_uri="")
            cluster = clusters.cluster_create(
                actor=self.actor, access=self.access, action=act,
                install_url=public_base(request), **body.validated_data,
            )  # fmt: skip
        return with_action(cluster_body(cluster), act, code=status.HTTP_201_CREATED)

    @extend_schema(request=ClusterUpdateSerializer, responses=ACCEPTED)
    def partial_update(self, request, ns=None, uuid=None):
        cluster = self._cluster(uuid)
        body = ClusterUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        name = (
            "Node Cluster Scale"
            if "target_num_nodes" in body.validated_data
            else "Node Cluster Update"
        )
        act = self._verb(name, clusters.cluster_update, cluster, **body.validated_data)
        return with_action(cluster_body(self._cluster(uuid)), act)

    @extend_schema(responses={**ACCEPTED, 400: ERROR})  # a cluster that is ending already
    def destroy(self, request, ns=None, uuid=None):
        cluster = self._cluster(uuid)
        act = self._verb("Node Cluster Terminate", clusters.cluster_terminate, cluster)
        return with_action(cluster_body(cluster), act)

    @extend_schema(responses=ACCEPTED)
    @action(detail=True, methods=["post"])
    def deploy(self, request, ns=None, uuid=None):
        cluster = self._cluster(uuid)
        act = self._verb("Node Cluster Deploy", clusters.cluster_deploy, cluster)
        return with_action(cluster_body(cluster), act)

    @extend_schema(responses=ACCEPTED)
    @action(detail=True, methods=["post"], url_path="docker-upgrade")
    def docker_upgrade(self, request, ns=None, uuid=None):
        cluster = self._cluster(uuid)
        act = self._verb("Node Cluster Upgrade Docker", clusters.cluster_docker_upgrade, cluster)
        return with_action(cluster_body(cluster), act)
