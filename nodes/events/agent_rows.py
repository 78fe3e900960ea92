"""Agents' events: one item checked into a row, and a batch of rows stored once by (node, seq).

This is the hot path of ingestion (every event of every node passes here, thousands a second
per web process), so rows are plain slotted objects rather than model instances, the live
payloads of one connection's rows are serialized once for all their groups (`payloads_json`),
and PostgreSQL gets a whole batch as one JSON document in one `INSERT ... ON CONFLICT DO
NOTHING RETURNING` statement: no per-row ORM work, no second query to learn which rows were
new.
"""

import json
import os
import uuid as uuid_module
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeGuard

from django.db import IntegrityError, close_old_connections, connection, transaction

from realtime.payloads import EventPayload

from ..models import DockerEvent, Node
from .render import iso

MAX_ATTRIBUTES = 64
MAX_VALUE = 1000
LOOKUP_CHUNK = 500
INSERT_CHUNK = 1000
MAX_SEQ = 2**63 - 1  # a BIGINT column, on every database


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


class AgentRow:
    """One agent event checked for storing: the columns of its DockerEvent row."""

    __slots__ = (
        "uuid", "organization_id", "node_id", "seq", "type", "action", "actor_id",
        "attributes", "time", "received", "pk",
    )  # fmt: skip

    def __init__(self, uuid: uuid_module.UUID, ctx: NodeContext, seq: int, kind: str,
                 action: str, actor_id: str, attributes: dict, time: datetime,
                 received: datetime):  # fmt: skip
        self.uuid = uuid
        self.organization_id = ctx.org_id
        self.node_id = ctx.node_id
        self.seq = seq
        self.type = kind
        self.action = action
        self.actor_id = actor_id
        self.attributes = attributes
        self.time = time
        self.received = received
        self.pk: int | None = None

    def model(self) -> DockerEvent:
        return DockerEvent(
            uuid=self.uuid,
            organization_id=self.organization_id,
            node_id=self.node_id,
            seq=self.seq,
            type=self.type,
            action=self.action,
            actor_id=self.actor_id,
            attributes=self.attributes,
            time=self.time,
            received=self.received,
        )

    def payload(self, ctx: NodeContext) -> EventPayload:
        """The stored row's live payload (as `render.event_payload` makes it of a model)."""
        return {
            "id": self.pk or 0,
            "uuid": str(self.uuid),
            "org": ctx.org_name,
            "node": ctx.node_uuid,
            "node_name": ctx.node_name,
            "seq": self.seq,
            "time": iso(self.time),
            "type": self.type,
            "action": self.action,
            "actor": self.actor_id,
            "attributes": self.attributes,
        }


def payloads_json(ctx: NodeContext, rows: list[AgentRow]) -> str:
    """The stored rows' payloads as one JSON array: serialized once for every group and socket
    they go to."""
    return json.dumps([row.payload(ctx) for row in rows], separators=(",", ":"))


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


def agent_event_row(ctx: NodeContext, item, now: datetime) -> AgentRow | None:
    """One row from one item of an agent's `event` message; None if it is malformed.

    Every field is checked here, at the edge, so that a row handed to the batch writer is one
    the database stores: seq within 1..2^63-1, strings clipped to their columns and free of
    what PostgreSQL or UTF-8 refuse, attributes bounded in number and size.
    """
    return _row(ctx, item, now, uuid_module.uuid4())


def agent_event_rows(ctx: NodeContext, items: list, now: datetime) -> tuple[list[AgentRow], int]:
    """(rows, malformed count) of a whole `event` message, checked as `agent_event_row`
    checks one (the random bits of every row's uuid drawn at once)."""
    random = os.urandom(16 * len(items))
    rows, bad = [], 0
    for i, item in enumerate(items):
        row = _row(ctx, item, now, uuid_module.UUID(bytes=random[16 * i : 16 * i + 16], version=4))
        if row is None:
            bad += 1
        else:
            rows.append(row)
    return rows, bad


def _row(ctx: NodeContext, item, now: datetime, uuid: uuid_module.UUID) -> AgentRow | None:
    if not isinstance(item, dict) or not _is_seq(item.get("seq")) or item["seq"] <= 0:
        return None
    actor = item.get("actor")
    if not isinstance(actor, dict):
        actor = {}
    try:
        kind = _text(item.get("type"), 32)
        if not kind:
            return None
        return AgentRow(
            uuid,
            ctx,
            item["seq"],
            kind,
            _text(item.get("action"), 100),
            _text(actor.get("id"), 128),
            _attributes(item),
            _event_time(item, now),
            now,
        )
    except _Malformed:
        return None


# One statement per batch: the rows as one JSON document, (node, seq) already stored skipped,
# and the new rows' ids returned. `ORDER BY` keeps ids in the order the agents sent.
_INSERT = """
INSERT INTO {table} (uuid, organization_id, node_id, seq, type, action, actor_id, attributes,
                     time, received)
SELECT r.u, r.o, r.n, r.s, r.t, r.a, r.i, r.at, r.tm, r.rc
FROM ROWS FROM (jsonb_to_recordset(%s::jsonb)
     AS (u uuid, o bigint, n bigint, s bigint, t text, a text, i text, at jsonb,
         tm timestamptz, rc timestamptz)) WITH ORDINALITY AS r(u, o, n, s, t, a, i, at, tm, rc, k)
ORDER BY r.k
ON CONFLICT (node_id, seq) DO NOTHING
RETURNING uuid, id
"""


def _document(rows: list[AgentRow]) -> str:
    return json.dumps(
        [
            {
                "u": str(row.uuid),
                "o": row.organization_id,
                "n": row.node_id,
                "s": row.seq,
                "t": row.type,
                "a": row.action,
                "i": row.actor_id,
                "at": row.attributes,
                "tm": row.time.isoformat(),
                "rc": row.received.isoformat(),
            }
            for row in rows
        ],
        separators=(",", ":"),
    )


def _store_postgresql(rows: list[AgentRow]) -> dict[uuid_module.UUID, int]:
    sql = _INSERT.format(table=connection.ops.quote_name(DockerEvent._meta.db_table))
    with connection.cursor() as cursor:
        cursor.execute(sql, [_document(rows)])
        return dict(cursor.fetchall())


def _store_orm(rows: list[AgentRow]) -> dict[uuid_module.UUID, int]:
    """Any other database (SQLite in the embedded default): the ORM's bulk insert, skipping
    conflicts only when a replay raced another connection of the same node."""
    models = [row.model() for row in rows]
    try:
        with transaction.atomic():
            DockerEvent.objects.bulk_create(models, batch_size=INSERT_CHUNK)
        if all(model.pk for model in models):  # ids returned (SQLite >= 3.35)
            return {model.uuid: model.pk for model in models}
    except IntegrityError:
        for model in models:
            model.pk = None
        with transaction.atomic():
            DockerEvent.objects.bulk_create(models, ignore_conflicts=True, batch_size=INSERT_CHUNK)
    stored: dict[uuid_module.UUID, int] = {}
    for start in range(0, len(rows), LOOKUP_CHUNK):
        chunk = [row.uuid for row in rows[start : start + LOOKUP_CHUNK]]
        stored.update(DockerEvent.objects.filter(uuid__in=chunk).values_list("uuid", "id"))
    return stored


def agent_events_store(*, rows: list[AgentRow]) -> dict[uuid_module.UUID, int]:
    """Insert a batch idempotently; return {uuid: id} of the rows that are new (a (node, seq)
    stored before, by a replay that raced another connection of the node, is skipped).

    Runs in the ingest thread. One statement (on PostgreSQL): all of the batch or none of it.
    """
    close_old_connections()
    try:
        if connection.vendor == "postgresql":
            return _store_postgresql(rows)
        return _store_orm(rows)
    finally:
        close_old_connections()  # as Channels' database_sync_to_async does
