"""Tenant-scoped reads on events: search, page catch-up, resume points."""

from datetime import datetime, timedelta

from django.db.models import Max, Q, QuerySet

from accounts.models import Organization

from ..models import DockerEvent, Node

# Two web processes commit batches independently, so a row with a lower id can become
# visible after one with a higher id. Catch-up re-reads the rows just below the last id seen
# (within this window and count); pages drop the ids they already have.
CATCHUP_OVERLAP = timedelta(seconds=5)
CATCHUP_OVERLAP_ROWS = 500
CATCHUP_LIMIT = 1000


def events_list(*, organization: Organization) -> QuerySet[DockerEvent]:
    return (
        DockerEvent.objects.filter(organization=organization)
        .select_related("organization", "node")
        .order_by("-id")
    )


def events_search(
    *,
    organization: Organization,
    node_uuid=None,
    type: str = "",
    action: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[DockerEvent]:
    """Newest first (by event time: the (organization, time) index serves it). `action` matches
    docker's full action or its verb (`exec_start` matches `exec_start: sh -c ...`)."""
    events = events_list(organization=organization).order_by("-time", "-id")
    if node_uuid:
        events = events.filter(node__uuid=node_uuid)
    if type:
        events = events.filter(type=type)
    if action:
        events = events.filter(Q(action=action) | Q(action__startswith=f"{action}:"))
    if since:
        events = events.filter(time__gte=since)
    if until:
        events = events.filter(time__lt=until)
    return events


def events_catchup(
    *, organization: Organization, node: Node | None, after_id: int, limit: int = CATCHUP_LIMIT
) -> tuple[list[DockerEvent], bool]:
    """Events after `after_id` (and late commits just below it), oldest first; True if the
    ones after `after_id` were cut at `limit`."""
    events = events_list(organization=organization)
    if node is not None:
        events = events.filter(node=node)
    newer = list(events.filter(id__gt=after_id).order_by("id")[: limit + 1])
    seen = events.filter(id=after_id).values_list("received", flat=True).first()
    late = []
    if seen is not None:
        late = list(
            events.filter(
                id__lte=after_id,
                id__gt=after_id - CATCHUP_OVERLAP_ROWS,
                received__gte=seen - CATCHUP_OVERLAP,
            ).order_by("id")
        )
    return late + newer[:limit], len(newer) > limit


def events_recent(*, organization: Organization, node: Node | None, limit: int) -> list:
    """The `limit` newest events, oldest first."""
    events = events_list(organization=organization)
    if node is not None:
        events = events.filter(node=node)
    return list(reversed(events[:limit]))


def last_event_id(*, organization: Organization, node: Node | None) -> int:
    events = DockerEvent.objects.filter(organization=organization)
    if node is not None:
        events = events.filter(node=node)
    return events.aggregate(last=Max("id"))["last"] or 0


def node_last_seq(*, node_id: int) -> int:
    """The highest sequence number stored for a node: where its agent resumes."""
    return DockerEvent.objects.filter(node_id=node_id).aggregate(last=Max("seq"))["last"] or 0
