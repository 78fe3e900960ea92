"""Docker Cloud API v1 routes: the namespace segment is optional on node and token."""

from django.urls import path

from .api import NodeViewSet, TokenViewSet

node_list = NodeViewSet.as_view({"get": "list"})
node_detail = NodeViewSet.as_view({"get": "retrieve", "delete": "destroy"})
token = TokenViewSet.as_view({"post": "create"})

urlpatterns = []
for prefix in ("api/infra/v1/", "api/infra/v1/<str:ns>/"):
    urlpatterns += [
        path(f"{prefix}node/", node_list),
        path(f"{prefix}node/<uuid:uuid>/", node_detail),
        path(f"{prefix}token/", token),
    ]
