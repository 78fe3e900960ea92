"""`/api/v1/orgs/` and everything under an organization."""

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from .. import selectors, services
from ..audit import Actor
from ..models import Role, User
from ..permissions import UserKeyPermission, can, request_api_key
from .base import OrgScopedViewSet
from .serializers import (
    ApiKeySerializer,
    AuditEntrySerializer,
    InvitationAcceptSerializer,
    InvitationSerializer,
    MemberAddSerializer,
    MemberSerializer,
    MemberUpdateSerializer,
    OrganizationSerializer,
    OrganizationUpdateSerializer,
    ServiceAccountSerializer,
    TeamSerializer,
)


class OrganizationViewSet(viewsets.GenericViewSet):
    """Organizations the caller belongs to; create one (the caller becomes its owner)."""

    serializer_class = OrganizationSerializer
    lookup_field = "name"
    lookup_value_converter = "str"

    def get_queryset(self):
        user = self.request.user
        if not isinstance(user, User):  # not reached: IsAuthenticated (the default) let a user in
            raise exceptions.NotAuthenticated()
        return selectors.organizations_for_user(user=user, api_key=request_api_key(self.request))

    def list(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def create(self, request):
        key = request_api_key(request)
        if key is not None and (key.read_only or key.organization_id):
            self.permission_denied(request, message="This API key cannot create organizations.")
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        org = services.organization_create(
            actor=Actor.from_request(request),
            name=serializer.validated_data["name"],
            display_name=serializer.validated_data.get("display_name", ""),
        )
        return Response(self.get_serializer(org).data, status=status.HTTP_201_CREATED)

    def retrieve(self, request, name=None):
        access = selectors.organization_access(request=request, name=name)
        return Response(self.get_serializer(access.organization).data)

    @extend_schema(request=OrganizationUpdateSerializer)
    def partial_update(self, request, name=None):
        access = selectors.organization_access(request=request, name=name)
        if not can(access, "manage"):
            self.permission_denied(request)
        serializer = OrganizationUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        org = services.organization_update(
            actor=Actor.from_request(request),
            organization=access.organization,
            display_name=serializer.validated_data.get(
                "display_name", access.organization.display_name
            ),
        )
        return Response(self.get_serializer(org).data)


class MemberViewSet(OrgScopedViewSet):
    serializer_class = MemberSerializer
    lookup_field = "username"
    lookup_value_converter = "str"
    verb_map = {"create": "manage", "partial_update": "manage", "destroy": "manage"}

    def check_permissions(self, request):
        # Leaving (deleting one's own membership) is an act on the user's account, not admin
        # work: any member may, but not through a read-only or organization-restricted key.
        if self.action == "destroy" and self.kwargs.get("username") == request.user.username:
            self.verb_map = {"destroy": "leave"}
        super().check_permissions(request)

    def list(self, request, ns=None):
        page = self.paginate_queryset(selectors.members_list(organization=self.organization))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def create(self, request, ns=None):
        serializer = MemberAddSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        membership = services.membership_add(
            actor=self.actor, organization=self.organization, **serializer.validated_data
        )
        return Response(self.get_serializer(membership).data, status=status.HTTP_201_CREATED)

    def retrieve(self, request, ns=None, username=None):
        membership = selectors.member_get(organization=self.organization, username=username)
        return Response(self.get_serializer(membership).data)

    def partial_update(self, request, ns=None, username=None):
        membership = selectors.member_get(organization=self.organization, username=username)
        serializer = MemberUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        membership = services.membership_set_role(
            actor=self.actor, membership=membership, role=serializer.validated_data["role"]
        )
        return Response(self.get_serializer(membership).data)

    def destroy(self, request, ns=None, username=None):
        membership = selectors.member_get(organization=self.organization, username=username)
        services.membership_remove(actor=self.actor, membership=membership)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TeamViewSet(OrgScopedViewSet):
    serializer_class = TeamSerializer
    lookup_field = "uuid"
    lookup_value_converter = "uuid"
    verb_map = {"create": "manage", "partial_update": "manage", "destroy": "manage"}

    def list(self, request, ns=None):
        page = self.paginate_queryset(selectors.teams_list(organization=self.organization))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def retrieve(self, request, ns=None, uuid=None):
        return Response(self.get_serializer(self._team(uuid)).data)

    def create(self, request, ns=None):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        team = services.team_create(
            actor=self.actor,
            organization=self.organization,
            name=data["name"],
            permission=data.get("permission", "read"),
            members=data.get("members"),
        )
        return Response(self.get_serializer(team).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, ns=None, uuid=None):
        team = self._team(uuid)
        serializer = self.get_serializer(team, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        services.team_update(
            actor=self.actor,
            team=team,
            name=data.get("name"),
            permission=data.get("permission"),
            members=data.get("members"),
        )
        return Response(self.get_serializer(self._team(uuid)).data)

    def destroy(self, request, ns=None, uuid=None):
        services.team_delete(actor=self.actor, team=self._team(uuid))
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _team(self, uuid):
        return selectors.team_get(organization=self.organization, uuid=uuid)


class InvitationViewSet(OrgScopedViewSet):
    serializer_class = InvitationSerializer
    lookup_field = "uuid"
    lookup_value_converter = "uuid"
    verb_map = {"list": "manage", "retrieve": "manage", "create": "manage", "destroy": "manage"}

    def list(self, request, ns=None):
        page = self.paginate_queryset(selectors.invitations_list(organization=self.organization))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def retrieve(self, request, ns=None, uuid=None):
        invitation = selectors.invitation_get(organization=self.organization, uuid=uuid)
        return Response(self.get_serializer(invitation).data)

    def create(self, request, ns=None):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        team = None
        if data.get("team"):
            try:
                team = selectors.team_get(organization=self.organization, uuid=data["team"])
            except Http404:
                return Response(
                    {"error": "team: No such team.", "fields": {"team": ["No such team."]}},
                    status=status.HTTP_400_BAD_REQUEST,
                )
        invitation, token = services.invitation_create(
            actor=self.actor,
            organization=self.organization,
            email=data["email"],
            role=data.get("role", Role.MEMBER),
            team=team,
            accept_url=request.build_absolute_uri("/invitations/accept/") + "{token}/",
        )
        body = self.get_serializer(invitation).data
        body["token"] = token  # shown once, for handing over out of band
        return Response(body, status=status.HTTP_201_CREATED)

    def destroy(self, request, ns=None, uuid=None):
        invitation = selectors.invitation_get(organization=self.organization, uuid=uuid)
        services.invitation_revoke(actor=self.actor, invitation=invitation)
        return Response(status=status.HTTP_204_NO_CONTENT)


class InvitationAcceptView(viewsets.GenericViewSet):
    """POST /api/v1/invitations/accept/ {"token"}: join as the calling user."""

    # Joining an organization acts on the user's account: not through a read-only key, nor
    # through a key restricted to one organization.
    permission_classes = [permissions.IsAuthenticated, UserKeyPermission]
    serializer_class = InvitationAcceptSerializer

    def create(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        membership = services.invitation_accept(
            actor=Actor.from_request(request), token=serializer.validated_data["token"]
        )
        return Response(OrganizationSerializer(membership.organization).data)


class AuditViewSet(OrgScopedViewSet):
    serializer_class = AuditEntrySerializer
    verb_map = {"list": "manage"}

    def list(self, request, ns=None):
        page = self.paginate_queryset(selectors.audit_list(organization=self.organization))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


class ServiceAccountViewSet(OrgScopedViewSet):
    serializer_class = ServiceAccountSerializer
    lookup_field = "uuid"
    lookup_value_converter = "uuid"
    verb_map = {
        "list": "manage",
        "retrieve": "manage",
        "create": "manage",
        "destroy": "manage",
        "apikeys": "manage",
    }

    def list(self, request, ns=None):
        page = self.paginate_queryset(
            selectors.service_accounts_list(organization=self.organization)
        )
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def retrieve(self, request, ns=None, uuid=None):
        account = selectors.service_account_get(organization=self.organization, uuid=uuid)
        return Response(self.get_serializer(account).data)

    def create(self, request, ns=None):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        account = services.service_account_create(
            actor=self.actor,
            organization=self.organization,
            name=serializer.validated_data["name"],
            role=serializer.validated_data["role"],
        )
        return Response(self.get_serializer(account).data, status=status.HTTP_201_CREATED)

    def destroy(self, request, ns=None, uuid=None):
        account = selectors.service_account_get(organization=self.organization, uuid=uuid)
        services.service_account_delete(actor=self.actor, account=account)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @action(detail=True, methods=["post"], serializer_class=ApiKeySerializer)
    def apikeys(self, request, ns=None, uuid=None):
        """Create an API key for the service account; the key is in the answer, once."""
        account = selectors.service_account_get(organization=self.organization, uuid=uuid)
        serializer = ApiKeySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        key, plaintext = services.apikey_create(
            actor=self.actor,
            user=account,
            label=data["label"],
            read_only=data.get("read_only", False),
            organization=self.organization,
            expires_at=data.get("expires_at"),
        )
        body = ApiKeySerializer(key).data
        body["key"] = plaintext
        return Response(body, status=status.HTTP_201_CREATED)
