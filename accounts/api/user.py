"""`/api/v1/user/`: the caller's own profile, API keys and SSH keys."""

from rest_framework import permissions, status, viewsets
from rest_framework.response import Response

from .. import selectors, services
from ..audit import Actor
from ..permissions import UserKeyPermission
from .serializers import ApiKeySerializer, SshKeySerializer, UserSerializer


class UserScopedViewSet(viewsets.GenericViewSet):
    permission_classes = [permissions.IsAuthenticated, UserKeyPermission]
    lookup_field = "uuid"
    lookup_value_converter = "uuid"

    @property
    def actor(self) -> Actor:
        return Actor.from_request(self.request)


class MeViewSet(UserScopedViewSet):
    """The calling user: one object, not a page."""

    serializer_class = UserSerializer

    def retrieve(self, request):
        return Response(self.get_serializer(request.user).data)


class ApiKeyViewSet(UserScopedViewSet):
    serializer_class = ApiKeySerializer

    def list(self, request):
        page = self.paginate_queryset(selectors.apikeys_for_user(user=request.user))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def retrieve(self, request, uuid=None):
        return Response(
            self.get_serializer(selectors.apikey_get(user=request.user, uuid=uuid)).data
        )

    def create(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        org_name = (data.get("organization") or {}).get("name")
        organization = None
        if org_name:
            organization = (
                selectors.organizations_for_user(user=request.user).filter(name=org_name).first()
            )
            if organization is None:
                message = "Not a member of this organization."
                return Response(
                    {"error": f"organization: {message}", "fields": {"organization": [message]}},
                    status=status.HTTP_400_BAD_REQUEST,
                )
        key, plaintext = services.apikey_create(
            actor=self.actor,
            user=request.user,
            label=data["label"],
            read_only=data.get("read_only", False),
            organization=organization,
            expires_at=data.get("expires_at"),
        )
        body = self.get_serializer(key).data
        body["key"] = plaintext  # shown once; only its digest is stored
        return Response(body, status=status.HTTP_201_CREATED)

    def destroy(self, request, uuid=None):
        key = selectors.apikey_get(user=request.user, uuid=uuid)
        services.apikey_revoke(actor=self.actor, key=key)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SshKeyViewSet(UserScopedViewSet):
    serializer_class = SshKeySerializer

    def list(self, request):
        page = self.paginate_queryset(selectors.sshkeys_for_user(user=request.user))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def retrieve(self, request, uuid=None):
        return Response(
            self.get_serializer(selectors.sshkey_get(user=request.user, uuid=uuid)).data
        )

    def create(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        key = services.sshkey_add(
            actor=self.actor,
            user=request.user,
            label=serializer.validated_data.get("label", ""),
            public_key=serializer.validated_data["public_key"],
        )
        return Response(self.get_serializer(key).data, status=status.HTTP_201_CREATED)

    def destroy(self, request, uuid=None):
        services.sshkey_delete(
            actor=self.actor, key=selectors.sshkey_get(user=request.user, uuid=uuid)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)
