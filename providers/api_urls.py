"""API routes: the catalog (Docker Cloud v1, never namespaced) and credentials (our own API)."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from .api import (
    AvailabilityZoneViewSet,
    CredentialViewSet,
    NodeTypeViewSet,
    ProviderViewSet,
    RegionViewSet,
)

LIST, DETAIL = {"get": "list"}, {"get": "retrieve"}
INFRA = "api/infra/v1/"

org = SimpleRouter(use_regex_path=False)
org.register("credentials", CredentialViewSet, basename="credential")

urlpatterns = [
    path(f"{INFRA}provider/", ProviderViewSet.as_view(LIST), name="catalog-provider-list"),
    path(f"{INFRA}provider/<str:name>/", ProviderViewSet.as_view(DETAIL)),
    path(f"{INFRA}region/", RegionViewSet.as_view(LIST), name="catalog-region-list"),
    path(f"{INFRA}region/<str:provider>/<str:name>/", RegionViewSet.as_view(DETAIL)),
    path(f"{INFRA}nodetype/", NodeTypeViewSet.as_view(LIST), name="catalog-nodetype-list"),
    path(f"{INFRA}nodetype/<str:provider>/<str:name>/", NodeTypeViewSet.as_view(DETAIL)),
    path(f"{INFRA}az/", AvailabilityZoneViewSet.as_view(LIST), name="catalog-az-list"),
    path(
        f"{INFRA}az/<str:provider>/<str:region>/<str:name>/",
        AvailabilityZoneViewSet.as_view(DETAIL),
    ),
    path("api/v1/orgs/<str:ns>/", include(org.urls)),
]
