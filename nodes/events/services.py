"""Writes on events: platform state changes, agents' batches, retention."""

import time
from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.db.models.functions import Length
from django.utils import timezone

from accounts.models import Organization
from realtime.emit import emit_on_commit
from realtime.groups import group_for_action, group_for_node, group_for_org
from realtime.payloads import action_end, action_log, events_batch

from ..models import FINAL_ACTION_STATES, Action, DockerEvent, Node, NodeCluster, NodeState

# Agents' events are written by agent_rows (the ingest path's hot part), re-exported here.
from .agent_rows import NodeContext as NodeContext
from .agent_rows import agent_event_row as agent_event_row
from .agent_rows import agent_events_store as agent_events_store
from .render import action_uri, cluster_uri, event_payload, node_uri

PRUNE_BATCH = 10000


# --- platform events --------------------------------------------------------------------------
def platform_event_record(
    *,
    organization: Organization,
    type: str,
    action: str,
    state: str,
    resource_uri: str,
    object_uuid,
    parents: Iterable[str] = (),
    node: Node | None = None,
    extra: dict | None = None,
) -> DockerEvent:
    """Store a state change of a platform object (node, node cluster, action, ...) and send it
    to the organization's group (and the node's) once the transaction commits.

    `action` is Docker Cloud's create, update or delete; `resource_uri` and `parents` are the
    Docker Cloud stream fields. Any object type can use it: the stream frames it generically.
    """
    now = timezone.now()
    attributes = {"state": state, "resource_uri": resource_uri, "parents": list(parents)}
    event = DockerEvent.objects.create(
        organization=organization,
        node=node,
        type=type,
        action=action,
        actor_id=str(object_uuid),
        attributes=attributes | (extra or {}),
        time=now,
        received=now,
    )
    message = events_batch(
        [
            event_payload(
                event,
                org_name=organization.name,
                node_uuid=node.uuid if node else None,
                node_name=(node.nickname or node.hostname) if node else "",
            )
        ]
    )
    emit_on_commit(group_for_org(organization.pk), message)
    if node is not None:
        emit_on_commit(group_for_node(organization.pk, node.pk), message)
    return event


def node_state_event(*, node_id: int, action: str = "update") -> None:
    """Record the node's current state as an event (after a service changed it)."""
    node = Node.objects.select_related("organization", "node_cluster").filter(pk=node_id).first()
    if node is None:
        return
    org = node.organization
    cluster = node.node_cluster
    platform_event_record(
        organization=org,
        type="node",
        action=action,
        state=node.state,
        resource_uri=node_uri(org.name, node.uuid),
        object_uuid=node.uuid,
        parents=[cluster_uri(org.name, cluster.uuid)] if cluster else [],
        node=node,
        extra={"reason": node.unreachable_reason} if node.state == NodeState.UNREACHABLE else None,
    )


def cluster_state_event(*, cluster_id: int, action: str = "update") -> None:
    """Record the node cluster's current state as an event (for the cluster services)."""
    cluster = NodeCluster.objects.select_related("organization").filter(pk=cluster_id).first()
    if cluster is None:
        return
    org = cluster.organization
    platform_event_record(
        organization=org,
        type="nodecluster",
        action=action,
        state=cluster.state,
        resource_uri=cluster_uri(org.name, cluster.uuid),
        object_uuid=cluster.uuid,
    )


def action_state_event(*, action_id: int, verb: str = "update") -> None:
    """Record the action's current state; a final state also ends its followed log streams."""
    action = Action.objects.select_related("organization").filter(pk=action_id).first()
    if action is None:
        return
    org = action.organization
    platform_event_record(
        organization=org,
        type="action",
        action=verb,
        state=action.state,
        resource_uri=action_uri(action.uuid),
        object_uuid=action.uuid,
        parents=[action.object_uri] if action.object_uri else [],
        extra={"name": action.action},
    )
    if action.state in FINAL_ACTION_STATES:
        emit_on_commit(group_for_action(org.pk, action.pk), action_end(state=action.state))


def action_log_event(*, action_id: int, line: str) -> None:
    """Send a line just appended to an action's log to the streams following it."""
    found = (
        Action.objects.filter(pk=action_id).values_list("organization_id", Length("logs")).first()
    )
    if found is None:
        return
    org_id, end = found
    message = action_log(log=line, timestamp=int(time.time()), end=end)
    emit_on_commit(group_for_action(org_id, action_id), message)


# --- retention --------------------------------------------------------------------------
def events_prune(*, days: int | None = None, batch: int = PRUNE_BATCH, budget: float = 900) -> int:
    """Delete events received more than `days` (DC_EVENT_RETENTION_DAYS) ago, `batch` rows per
    statement (short ones: no long lock, no huge transaction), for at most `budget` seconds
    (beat runs it again within the hour). Returns the rows deleted."""
    days = settings.DC_EVENT_RETENTION_DAYS if days is None else days
    cutoff = timezone.now() - timedelta(days=days)
    deadline = time.monotonic() + budget
    deleted = 0
    while time.monotonic() < deadline:
        ids = list(
            DockerEvent.objects.filter(received__lt=cutoff)
            .order_by("received")
            .values_list("id", flat=True)[:batch]
        )
        if not ids:
            break
        DockerEvent.objects.filter(id__in=ids).delete()
        deleted += len(ids)
    return deleted
