"""Docker Cloud API v1 routes. The namespace segment is optional on node and the service stub;
the namespaced copies are left out of the OpenAPI schema (same operations). The `token`
resource (install commands) is the agent API's: agentapi/urls.py."""

from django.urls import path

from .api.actions import ActionViewSet
from .api.clusters import NodeClusterViewSet
from .api.nodes import NodeViewSet
from .api.stubs import ServiceStubViewSet


def unlisted(viewset):
    return type(f"Namespaced{viewset.__name__}", (viewset,), {"schema": None})


def _routes(prefix: str, node, cluster, service) -> list:
    cluster_verbs = {"get": "retrieve", "patch": "partial_update", "delete": "destroy"}
    return [
        path(
            f"api/infra/v1/{prefix}nodecluster/",
            cluster.as_view({"get": "list", "post": "create"}),
        ),
        path(f"api/infra/v1/{prefix}nodecluster/<uuid:uuid>/", cluster.as_view(cluster_verbs)),
        path(
            f"api/infra/v1/{prefix}nodecluster/<uuid:uuid>/deploy/",
            cluster.as_view({"post": "deploy"}),
        ),
        path(
            f"api/infra/v1/{prefix}nodecluster/<uuid:uuid>/docker-upgrade/",
            cluster.as_view({"post": "docker_upgrade"}),
        ),
        path(f"api/infra/v1/{prefix}node/", node.as_view({"get": "list"})),
        path(
            f"api/infra/v1/{prefix}node/<uuid:uuid>/",
            node.as_view({"get": "retrieve", "patch": "partial_update", "delete": "destroy"}),
        ),
        path(
            f"api/infra/v1/{prefix}node/<uuid:uuid>/docker-upgrade/",
            node.as_view({"post": "docker_upgrade"}),
        ),
        path(
            f"api/infra/v1/{prefix}node/<uuid:uuid>/agent-upgrade/",
            node.as_view({"post": "agent_upgrade"}),
        ),
        path(
            f"api/infra/v1/{prefix}node/<uuid:uuid>/health-check/",
            node.as_view({"post": "health_check"}),
        ),
        path(f"api/app/v1/{prefix}service/", service.as_view({"get": "list"})),
    ]


urlpatterns = [
    path("api/audit/v1/action/", ActionViewSet.as_view({"get": "list"})),
    path("api/audit/v1/action/<uuid:uuid>/", ActionViewSet.as_view({"get": "retrieve"})),
    path("api/audit/v1/action/<uuid:uuid>/cancel/", ActionViewSet.as_view({"post": "cancel"})),
    path("api/audit/v1/action/<uuid:uuid>/retry/", ActionViewSet.as_view({"post": "retry"})),
    *_routes("", NodeViewSet, NodeClusterViewSet, ServiceStubViewSet),
    *_routes(
        "<str:ns>/",
        unlisted(NodeViewSet),
        unlisted(NodeClusterViewSet),
        unlisted(ServiceStubViewSet),
    ),
]
