"""Docker Cloud API v1 routes of containers (and the stack stub); the namespace segment is
optional, and the namespaced copies are left out of the OpenAPI schema (same operations)."""

from django.urls import path

from nodes.api_urls import unlisted

from .api import ContainerViewSet, StackStubViewSet


def _routes(prefix: str, container, stack) -> list:
    base = f"api/app/v1/{prefix}container/"
    one = f"{base}<uuid:uuid>/"
    return [
        path(base, container.as_view({"get": "list", "post": "create"})),
        path(one, container.as_view({"get": "retrieve", "delete": "destroy"})),
        path(f"{one}start/", container.as_view({"post": "start"})),
        path(f"{one}stop/", container.as_view({"post": "stop"})),
        path(f"{one}redeploy/", container.as_view({"post": "redeploy"})),
        path(f"{one}logs/", container.as_view({"get": "logs"})),
        path(f"api/app/v1/{prefix}stack/", stack.as_view({"get": "list"})),
    ]


urlpatterns = [
    *_routes("", ContainerViewSet, StackStubViewSet),
    *_routes("<str:ns>/", unlisted(ContainerViewSet), unlisted(StackStubViewSet)),
]
