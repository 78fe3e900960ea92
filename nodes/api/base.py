"""Docker Cloud API v1 plumbing shared by the infra and audit resources."""

import json

from rest_framework import permissions, status, viewsets
from rest_framework.response import Response

from accounts.audit import Actor
from accounts.permissions import OrgPermission
from core.dockercloud import namespace_access

from .. import actions
from ..models import Action

INFRA = "/api/infra/v1/"
AUDIT = "/api/audit/v1/"


def action_uri(action: Action) -> str:
    return f"{AUDIT}action/{action.uuid}/"


class InfraViewSet(viewsets.GenericViewSet):
    """Resolves the optional namespace into `self.access` (404 if not the caller's)."""

    permission_classes = [permissions.IsAuthenticated, OrgPermission]
    verb_map: dict[str, str] = {}

    def check_permissions(self, request):
        if not request.user.is_authenticated:
            self.permission_denied(request)
        self.access = namespace_access(request, self.kwargs.get("ns"))
        super().check_permissions(request)

    @property
    def organization(self):
        return self.access.organization

    @property
    def actor(self) -> Actor:
        return Actor.from_request(self.request)

    def start_action(self, name: str, *, object_uri: str, object_uuid=None, **kwargs) -> Action:
        """An Action for this API call, with the call's method, path, body and user agent."""
        body = self.request.data if self.request.method not in ("GET", "DELETE") else {}
        return actions.action_create(
            actor=self.actor,
            organization=self.organization,
            action=name,
            object_uri=object_uri,
            object_uuid=object_uuid,
            method=self.request.method,
            path=self.request.path,
            body=json.dumps(body) if body else "",
            user_agent=self.request.META.get("HTTP_USER_AGENT", ""),
            **kwargs,
        )


def with_action(body, action: Action, code: int = status.HTTP_202_ACCEPTED) -> Response:
    """The resource, plus the header the Docker Cloud clients follow with `--sync`."""
    return Response(body, status=code, headers={"X-DockerCloud-Action-URI": action_uri(action)})
