"""`/api/infra/v1/[<ns>/]overlay/`; the namespaced copy is left out of the schema (the same
operation)."""

from django.urls import path

from .api import OverlayViewSet


class NamespacedOverlayViewSet(OverlayViewSet):
    schema = None


urlpatterns = [
    path("api/infra/v1/overlay/", OverlayViewSet.as_view({"get": "retrieve"})),
    path("api/infra/v1/<str:ns>/overlay/", NamespacedOverlayViewSet.as_view({"get": "retrieve"})),
]
