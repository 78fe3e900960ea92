"""`/api/v1/orgs/<ns>/maintenance/...` (included under `api/v1/`)."""

from django.urls import path

from .api import MaintenanceViewSet

urlpatterns = [
    path(
        "orgs/<str:ns>/maintenance/",
        MaintenanceViewSet.as_view({"get": "retrieve", "patch": "partial_update"}),
    ),
    path("orgs/<str:ns>/maintenance/images/", MaintenanceViewSet.as_view({"get": "images"})),
    path(
        "orgs/<str:ns>/maintenance/nodes/<uuid:uuid>/",
        MaintenanceViewSet.as_view({"get": "node"}),
    ),
]
