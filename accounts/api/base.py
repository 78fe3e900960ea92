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
        self.access = self.resolve_access(request)
        super().check_permissions(request)

    def resolve_access(self, request):
        """The caller's Access to the organization this URL addresses (Http404 if none)."""
        return organization_access(request=request, name=self.kwargs["ns"])

    @property
    def organization(self):
        return self.access.organization

    @property
    def actor(self) -> Actor:
        return Actor.from_request(self.request)
