"""Portal URLs of nodes (app_name "nodes"). Unsafe actions are POST-only URLs."""

from django.urls import include, path

from . import views

app_name = "nodes"

org_urls = [
    path("nodes/", views.nodes_list, name="list"),
    path("nodes/token/", views.token_create, name="token"),
    path("nodes/<uuid:uuid>/", views.node_detail, name="node"),
    path("nodes/<uuid:uuid>/containers/", views.node_containers, name="containers"),
    path("nodes/<uuid:uuid>/edit/", views.node_edit, name="edit"),
    path("nodes/<uuid:uuid>/<slug:verb>/", views.node_verb, name="verb"),
    path("clusters/", views.clusters_list, name="clusters"),
    path("clusters/<uuid:uuid>/", views.cluster_detail, name="cluster"),
    path("clusters/<uuid:uuid>/<slug:verb>/", views.cluster_verb, name="cluster_verb"),
    path("byo-ssh/", views.byo_ssh_create, name="byo_ssh_create"),
    path("byo-ssh/<uuid:uuid>/", views.byo_ssh_detail, name="byo_ssh"),
]

urlpatterns = [
    path("orgs/<str:ns>/", include(org_urls)),
]
