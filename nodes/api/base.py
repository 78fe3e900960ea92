"""Docker Cloud API v1 plumbing shared by the infra and audit resources."""

import json

from django.core.exceptions import PermissionDenied
from django.db import transaction
from rest_framework import status
from rest_framework.response import Response

from accounts.api.base import OrgScopedViewSet
from accounts.permissions import OrgPermission
from core.dockercloud import namespace_access
from providers import selectors as provider_selectors

from .. import actions
from ..models import Action

INFRA = "/api/infra/v1/"
AUDIT = "/api/audit/v1/"


def action_uri(action: Action) -> str:
    return f"{AUDIT}action/{action.uuid}/"


class GrantPermission(OrgPermission):
    """The organization-wide level, as everywhere; short of it, a team's grant to use a
    credential admits the view's `grantable` actions. The view then checks the object's
    credential with `check_grant`."""

    def has_permission(self, request, view) -> bool:
        view.by_grant = False
        if super().has_permission(request, view):
            return True
        if view.action in getattr(view, "grantable", ()) and (
            provider_selectors.has_credential_grants(access=view.access)
        ):
            view.by_grant = True
            return True
        return False


class InfraViewSet(OrgScopedViewSet):
    """The namespace segment is optional here: without it, the caller's own organization."""

    def resolve_access(self, request):
        return namespace_access(request, self.kwargs.get("ns"))

    def check_grant(self, credential_uuid) -> None:
        """Admitted by a credential grant only (GrantPermission): the object must deploy with
        a credential granted to the caller's teams."""
        if getattr(self, "by_grant", False) and not provider_selectors.credential_uuid_usable(
            access=self.access, uuid=credential_uuid
        ):
            raise PermissionDenied

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

    def run_verb(self, name: str, verb, *, object_uri: str, object_uuid=None, **kwargs) -> Action:
        """Start this call's Action and run `verb(actor=, action=, **kwargs)` in one
        transaction: a refused call (a 400) leaves no Pending action behind."""
        with transaction.atomic():
            action = self.start_action(name, object_uri=object_uri, object_uuid=object_uuid)
            verb(actor=self.actor, action=action, **kwargs)
        return action


def with_action(body, action: Action, code: int = status.HTTP_202_ACCEPTED) -> Response:
    """The resource, plus the header the Docker Cloud clients follow with `--sync`."""
    return Response(body, status=code, headers={"X-DockerCloud-Action-URI": action_uri(action)})
