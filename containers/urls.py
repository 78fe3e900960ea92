"""Portal URLs of containers (app_name "containers"). Unsafe actions are POST-only URLs."""

from django.urls import include, path

from . import node_views, views

app_name = "containers"

org_urls = [
    path("containers/", views.containers_list, name="container_list"),
    path("containers/<uuid:uuid>/", views.container_detail, name="container"),
    path("containers/<uuid:uuid>/logs/", views.container_logs, name="container_logs"),
    path("containers/<uuid:uuid>/<slug:verb>/", views.container_verb, name="container_verb"),
    # Any container of a node's daemon, from the node's containers page.
    path(
        "nodes/<uuid:uuid>/containers/<str:docker_id>/logs/",
        node_views.node_container_logs,
        name="node_container_logs",
    ),
    path(
        "nodes/<uuid:uuid>/containers/<str:docker_id>/<slug:verb>/",
        node_views.node_container_verb,
        name="node_container_verb",
    ),
]

urlpatterns = [
    path("orgs/<str:ns>/", include(org_urls)),
]
