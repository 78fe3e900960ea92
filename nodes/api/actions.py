"""Actions: `/api/audit/v1/action/` (never namespaced in REST), with cancel and retry."""

from django.http import Http404
from rest_framework import permissions, serializers, status, viewsets
from rest_framework.decorators import action as verb
from rest_framework.response import Response

from accounts.audit import Actor
from accounts.permissions import access_for, can, request_api_key, request_user
from accounts.selectors import organizations_for_user
from core.dockercloud import rfc1123

from .. import selectors
from ..lifecycle import ACTION_VERBS, action_retry
from ..models import Action
from ..transitions.actions import action_cancel
from .base import action_uri

FILTERS = {
    "uuid": "uuid",
    "uuid__startswith": "uuid__startswith",
    "state": "state",
    "start_date__gte": "start_date__gte",
    "start_date__lte": "start_date__lte",
    "end_date__gte": "end_date__gte",
    "end_date__lte": "end_date__lte",
}


def action_body(act: Action) -> dict:
    return {
        "uuid": str(act.uuid),
        "resource_uri": action_uri(act),
        "object": act.object_uri,
        "action": act.action,
        "method": act.method,
        "path": act.path,
        "body": act.body,
        "user": act.user_name,
        "user_agent": act.user_agent,
        "ip": act.ip,
        "location": "",
        "state": act.state,
        "start_date": rfc1123(act.start_date),
        "end_date": rfc1123(act.end_date),
        "is_user_action": act.is_user_action,
        "can_be_canceled": act.can_be_canceled and act.state in ("Pending", "In progress"),
        "can_be_retried": act.can_be_retried,
        "logs": act.logs,
    }


class ActionSerializer(serializers.Serializer):
    uuid = serializers.UUIDField()
    resource_uri = serializers.CharField()
    object = serializers.CharField()
    action = serializers.CharField()
    state = serializers.CharField()
    logs = serializers.CharField()


class ActionViewSet(viewsets.GenericViewSet):
    """Actions of every organization the caller can see (an API key may narrow that)."""

    serializer_class = ActionSerializer
    permission_classes = [permissions.IsAuthenticated]
    lookup_field = "uuid"
    lookup_value_converter = "uuid"

    def _visible(self):
        return selectors.actions_for_user(
            user=request_user(self.request), api_key=request_api_key(self.request)
        )

    def _action(self, uuid) -> Action:
        act = self._visible().filter(uuid=uuid).first()
        if act is None:
            raise Http404
        return act

    def list(self, request):
        params = request.query_params
        qs = self._visible().filter(
            **{field: params[name] for name, field in FILTERS.items() if params.get(name)}
        )
        if params.get("object"):
            related = params.get("include_related") == "true"
            orgs = organizations_for_user(
                user=request_user(request), api_key=request_api_key(request)
            )
            uuids = selectors.object_uuids(params["object"], related, organizations=orgs)
            qs = qs.filter(object_uuid__in=uuids)
        page = self.paginate_queryset(qs) or []  # never None: every list is paginated
        return self.get_paginated_response([action_body(a) for a in page])

    def retrieve(self, request, uuid=None):
        return Response(action_body(self._action(uuid)))

    def _check(self, act: Action, verb: str) -> None:
        """The policy's answer for `verb` on the action's node or cluster (the organization
        when it is about neither)."""
        access = access_for(
            user=request_user(self.request),
            organization=act.organization,
            api_key=request_api_key(self.request),
        )
        if not can(access, verb, selectors.action_object(action=act)):
            self.permission_denied(self.request)

    @verb(detail=True, methods=["post"])
    def cancel(self, request, uuid=None):
        act = self._action(uuid)
        # Whoever may start an action may cancel it, and retrying runs its verb again.
        self._check(act, ACTION_VERBS.get(act.action, "change"))
        act = action_cancel(action_id=act.pk)
        return Response(action_body(act), status=status.HTTP_202_ACCEPTED)

    @verb(detail=True, methods=["post"])
    def retry(self, request, uuid=None):
        act = self._action(uuid)
        self._check(act, ACTION_VERBS.get(act.action, "change"))
        new = action_retry(actor=Actor.from_request(request), action=act)
        return Response(
            action_body(new),
            status=status.HTTP_202_ACCEPTED,
            headers={"X-DockerCloud-Action-URI": action_uri(new)},
        )
