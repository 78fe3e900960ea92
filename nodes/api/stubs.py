"""The app subsystem's service list, empty: the docker-cloud CLI's `tag` command looks up a
service first and aborts on a 404 (DOCKERCLOUD_API.md, section 5)."""

from rest_framework import serializers

from .base import InfraViewSet


class ServiceSerializer(serializers.Serializer):
    uuid = serializers.UUIDField()


class ServiceStubViewSet(InfraViewSet):
    serializer_class = ServiceSerializer

    def list(self, request, ns=None):
        return self.get_paginated_response(self.paginate_queryset([]))
