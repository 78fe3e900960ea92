"""Writes on events: platform state changes, agents' batches, retention."""

import time
import uuid as uuid_module
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeGuard

from django.conf import settings
from django.db import IntegrityError, close_old_connections, transaction
from django.db.models.functions import Length
from django.utils import timezone

from accounts.models import Organization
from realtime.emit import emit_on_commit
from realtime.groups import group_for_action, group_for_node, group_for_org
from realtime.payloads import action_end, action_log, events_batch

from ..models import FINAL_ACTION_STATES, Action, DockerEvent, Node, NodeCluster, NodeState
from .render import action_uri, cluster_uri, event_payload, node_uri

MAX_ATTRIBUTES = 64
MAX_VALUE = 1000
LOOKUP_CHUNK = 500
INSERT_CHUNK = 1000
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


# --- agent events -------------------------------------------------------------------------
@dataclass(frozen=True)
class NodeContext:
    """What the ingest path knows of the sending node, so it never reads the node again."""

    node_id: int
    node_uuid: str
    node_name: str
    org_id: int
    org_name: str

    @classmethod
    def of(cls, node: Node) -> "NodeContext":
        """For a node read with its organization."""
        return cls(
            node_id=node.pk,
            node_uuid=str(node.uuid),
            node_name=node.nickname or node.hostname,
            org_id=node.organization_id,
            org_name=node.organization.name,
        )


MAX_SEQ = 2**63 - 1  # a BIGINT column, on every database


class _Malformed(Exception):
    pass


def _storable(value: str) -> str:
    """`value` if any database can store it as text: no NUL character (PostgreSQL refuses
    it), no unpaired surrogate (no UTF-8 for it)."""
    if "\x00" in value:
        raise _Malformed
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise _Malformed from None
    return value


def _text(value, limit: int) -> str:
    return _storable(value[:limit]) if isinstance(value, str) else ""


def _attributes(item: dict) -> dict:
    gap = item.get("gap")
    if item.get("type") == "gap" and isinstance(gap, dict):
        return {k: gap[k] for k in ("dropped", "first_seq", "last_seq") if _is_seq(gap.get(k))}
    actor = item.get("actor")
    given = actor.get("attributes") if isinstance(actor, dict) else None
    if not isinstance(given, dict):
        return {}
    attrs = {}
    for key, value in list(given.items())[:MAX_ATTRIBUTES]:
        if isinstance(key, str) and isinstance(value, str):
            attrs[_text(key, 200)] = _text(value, MAX_VALUE)
    return attrs


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_seq(value: object) -> TypeGuard[int]:
    return _is_int(value) and 0 <= value <= MAX_SEQ


def _event_time(item: dict, now: datetime) -> datetime:
    nanos = item.get("time_nano")
    if _is_int(nanos) and 0 < nanos < 2**63:
        return datetime.fromtimestamp(nanos / 1e9, tz=UTC)
    return now


def agent_event_row(ctx: NodeContext, item, now: datetime) -> DockerEvent | None:
    """One row from one item of an agent's `event` message; None if it is malformed.

    Every field is checked here, at the edge, so that a row handed to the batch writer is one
    the database stores: seq within 1..2^63-1, strings clipped to their columns and free of
    what PostgreSQL or UTF-8 refuse, attributes bounded in number and size.
    """
    if not isinstance(item, dict) or not _is_seq(item.get("seq")) or item["seq"] <= 0:
        return None
    actor = item.get("actor")
    if not isinstance(actor, dict):
        actor = {}
    try:
        kind = _text(item.get("type"), 32)
        if not kind:
            return None
        return DockerEvent(
            uuid=uuid_module.uuid4(),
            organization_id=ctx.org_id,
            node_id=ctx.node_id,
            seq=item["seq"],
            type=kind,
            action=_text(item.get("action"), 100),
            actor_id=_text(actor.get("id"), 128),
            attributes=_attributes(item),
            time=_event_time(item, now),
            received=now,
        )
    except _Malformed:
        return None


def agent_events_store(*, rows: list[DockerEvent]) -> dict[uuid_module.UUID, int]:
    """Insert a batch idempotently; return {uuid: id} of the rows that are new.

    Runs in the ingest thread. Agents' replays are mostly dropped before this (the consumer
    knows the last stored seq), so the plain INSERT ... RETURNING id is the usual path. When a
    replay raced another connection of the same node, `ignore_conflicts` skips the (node, seq)
    already stored, and a row is new exactly when a row with its fresh uuid exists afterwards.
    """
    close_old_connections()
    try:
        try:
            with transaction.atomic():
                DockerEvent.objects.bulk_create(rows, batch_size=INSERT_CHUNK)
            if all(row.pk for row in rows):  # ids returned (PostgreSQL, SQLite >= 3.35)
                return {row.uuid: row.pk for row in rows}
        except IntegrityError:
            for row in rows:
                row.pk = None
            with transaction.atomic():
                DockerEvent.objects.bulk_create(
                    rows, ignore_conflicts=True, batch_size=INSERT_CHUNK
                )
        stored: dict[uuid_module.UUID, int] = {}
        for start in range(0, len(rows), LOOKUP_CHUNK):
            chunk = [row.uuid for row in rows[start : start + LOOKUP_CHUNK]]
            stored.update(DockerEvent.objects.filter(uuid__in=chunk).values_list("uuid", "id"))
        return stored
    finally:
        close_old_connections()  # as Channels' database_sync_to_async does


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
