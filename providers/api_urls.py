"""API routes: the catalog (Docker Cloud v1, never namespaced) and credentials (our own API)."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter
from rest_framework.viewsets import ViewSetMixin

from .api import (
    AvailabilityZoneViewSet,
    CredentialViewSet,
    NodeTypeViewSet,
    ProviderViewSet,
    RegionViewSet,
)

INFRA = "api/infra/v1/"

org = SimpleRouter(use_regex_path=False)
org.register("credentials", CredentialViewSet, basename="credential")


def listed(viewset: type[ViewSetMixin]):
    return viewset.as_view({"get": "list"})


def detail(viewset: type[ViewSetMixin]):
    return viewset.as_view({"get": "retrieve"})


urlpatterns = [
    path(f"{INFRA}provider/", listed(ProviderViewSet), name="catalog-provider-list"),
    path(f"{INFRA}provider/<str:name>/", detail(ProviderViewSet)),
    path(f"{INFRA}region/", listed(RegionViewSet), name="catalog-region-list"),
    path(f"{INFRA}region/<str:provider>/<str:name>/", detail(RegionViewSet)),
    path(f"{INFRA}nodetype/", listed(NodeTypeViewSet), name="catalog-nodetype-list"),
    path(f"{INFRA}nodetype/<str:provider>/<str:name>/", detail(NodeTypeViewSet)),
    path(f"{INFRA}az/", listed(AvailabilityZoneViewSet), name="catalog-az-list"),
    path(
        f"{INFRA}az/<str:provider>/<str:region>/<str:name>/",
        detail(AvailabilityZoneViewSet),
    ),
    path("api/v1/orgs/<str:ns>/", include(org.urls)),
]
