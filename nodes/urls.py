"""Portal URLs of nodes (app_name "nodes"). Unsafe actions are POST-only URLs."""

from django.urls import include, path

from .views import byo, cluster, node

app_name = "nodes"

org_urls = [
    path("nodes/", byo.nodes_list, name="list"),
    path("nodes/<uuid:uuid>/", node.node_detail, name="node"),
    path("nodes/<uuid:uuid>/containers/", node.node_containers, name="containers"),
    path("nodes/<uuid:uuid>/edit/", node.node_edit, name="edit"),
    path("nodes/<uuid:uuid>/<slug:verb>/", node.node_verb, name="verb"),
    path("clusters/", cluster.clusters_list, name="clusters"),
    path("clusters/<uuid:uuid>/", cluster.cluster_detail, name="cluster"),
    path("clusters/<uuid:uuid>/<slug:verb>/", cluster.cluster_verb, name="cluster_verb"),
]

urlpatterns = [
    path("orgs/<str:ns>/", include(org_urls)),
]
