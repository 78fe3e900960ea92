"""`GET /api/v1/orgs/<ns>/events/?node=&type=&action=&since=&until=`: the event search."""

import uuid as uuid_module
from datetime import UTC, datetime

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from accounts.api.base import OrgScopedViewSet

from . import selectors
from .render import iso, stored_payload


def parse_time(name: str, value: str) -> datetime | None:
    """ISO 8601 (naive means UTC) or seconds since the epoch; a 400 naming `name` otherwise."""
    if not value:
        return None
    try:
        moment = datetime.fromtimestamp(float(value), tz=UTC)
    except (ValueError, OverflowError, OSError):
        try:
            moment = datetime.fromisoformat(value.replace(" ", "+"))
        except ValueError:
            raise ValidationError(
                {name: ["Give an ISO 8601 time or seconds since 1970."]}
            ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def search_filters(params) -> dict:
    """The search's filters from query parameters (shared by the API and the portal page)."""
    node = params.get("node", "")
    if node:
        try:
            node = uuid_module.UUID(node)
        except ValueError:
            raise ValidationError({"node": ["Give a node uuid."]}) from None
    return {
        "node_uuid": node or None,
        "type": params.get("type", "")[:32],
        "action": params.get("action", "")[:100],
        "since": parse_time("since", params.get("since", "")),
        "until": parse_time("until", params.get("until", "")),
    }


class EventSerializer(serializers.Serializer):
    """Documentation of the response rows (rendered by `stored_payload`)."""

    id = serializers.IntegerField()
    uuid = serializers.UUIDField()
    org = serializers.CharField()
    node = serializers.UUIDField(allow_null=True)
    node_name = serializers.CharField()
    seq = serializers.IntegerField(allow_null=True)
    time = serializers.DateTimeField()
    received = serializers.DateTimeField()
    type = serializers.CharField()
    action = serializers.CharField()
    actor = serializers.CharField()
    attributes = serializers.DictField()


class EventViewSet(OrgScopedViewSet):
    """Docker events of the organization's nodes and its platform events, newest first."""

    serializer_class = EventSerializer

    @extend_schema(
        parameters=[
            OpenApiParameter("node", str, description="node uuid"),
            OpenApiParameter("type", str, description="container, image, network, node, ..."),
            OpenApiParameter("action", str, description="start, die, update, ..."),
            OpenApiParameter("since", str, description="ISO 8601 or epoch seconds (inclusive)"),
            OpenApiParameter("until", str, description="ISO 8601 or epoch seconds (exclusive)"),
        ]
    )
    def list(self, request, ns=None):
        events = selectors.events_search(
            organization=self.organization, **search_filters(request.query_params)
        )
        page = self.paginate_queryset(events) or []  # never None: every list is paginated
        rows = [stored_payload(e) | {"received": iso(e.received)} for e in page]
        return self.get_paginated_response(rows)
