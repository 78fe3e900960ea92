"""Docker Cloud API v1 plumbing shared by the infra and audit resources."""

import json

from django.db import transaction
from rest_framework import status
from rest_framework.response import Response

from accounts.api.base import OrgScopedViewSet
from accounts.selectors import namespace_access

from ..models import Action
from ..transitions import actions

INFRA = "/api/infra/v1/"
AUDIT = "/api/audit/v1/"


def action_uri(action: Action) -> str:
    return f"{AUDIT}action/{action.uuid}/"


class InfraViewSet(OrgScopedViewSet):
    """The namespace segment is optional here: without it, the caller's own organization."""

    def resolve_access(self, request):
        return namespace_access(request, self.kwargs.get("ns"))

    def start_action(self, name: str, *, object_uri: str, object_uuid=None, **kwargs) -> Action:
        """An Action for this API call, with the call's method, path, body and user agent."""
        body = self.request.data if self.request.method not in ("GET", "DELETE") else {}
        return actions.action_create(
            actor=self.actor,
            organization=self.organization,
            action=name,
            object_uri=object_uri,
            object_uuid=object_uuid,
            method=self.request.method or "",  # None only on a request made by hand
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
