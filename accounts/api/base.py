"""Shared pieces of the accounts API: the organization-scoped viewset base."""

from rest_framework import permissions, viewsets

from ..audit import Actor
from ..permissions import OrgPermission
from ..selectors import organization_access


class OrgScopedViewSet(viewsets.GenericViewSet):
    """A viewset under `/api/v1/orgs/<ns>/`: resolves the caller's Access (404 if none)."""

    permission_classes = [permissions.IsAuthenticated, OrgPermission]
    verb_map: dict[str, str] = {}

    def check_permissions(self, request):
        if not request.user.is_authenticated:
            self.permission_denied(request)
        self.access = organization_access(request=request, name=self.kwargs["ns"])
        super().check_permissions(request)

    @property
    def organization(self):
        return self.access.organization

    @property
    def actor(self) -> Actor:
        return Actor.from_request(self.request)
