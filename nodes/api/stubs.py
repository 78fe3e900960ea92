"""The app subsystem's service list, empty: the docker-cloud CLI's `tag` command looks up a
service first and aborts on a 404 (DOCKERCLOUD_API.md, section 5)."""

from rest_framework import serializers

from .base import InfraViewSet


class ServiceSerializer(serializers.Serializer):
    uuid = serializers.UUIDField()


class ServiceStubViewSet(InfraViewSet):
    serializer_class = ServiceSerializer

    def list(self, request, ns=None):
        # DRF pages any sequence (the envelope's meta needs the paginator run); its type stubs
        # accept only querysets, and this resource has no model to take an empty one from.
        return self.get_paginated_response(self.paginate_queryset([]))  # type: ignore[arg-type]
