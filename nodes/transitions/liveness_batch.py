"""The liveness flush's write: many nodes' heartbeats in one UPDATE per batch.

The batch travels as one JSON parameter unpacked by the database (`jsonb_to_recordset` on
PostgreSQL, `json_each` on SQLite), so a batch of thousands is one statement with one
parameter, whatever the databases' limits on parameters. No `state` is written here: a
heartbeat changes none (`liveness` asks for the probe that may).
"""

import json
import uuid
from datetime import UTC, datetime

from django.db import connection

from ..models import Node, NodeState

BATCH = 5000

_POSTGRESQL = """
UPDATE {table} AS n SET
    last_seen = to_timestamp(v.seen),
    unreachable_after = to_timestamp(v.until),
    last_metric = COALESCE(v.metric, n.last_metric),
    clock_skew = COALESCE(v.skew, n.clock_skew),
    current_num_containers = COALESCE(v.containers, n.current_num_containers),
    docker_version = COALESCE(v.docker_version, n.docker_version),
    agent_version = COALESCE(v.agent_version, n.agent_version)
FROM jsonb_to_recordset(%s::jsonb) AS v(
    uuid uuid, seen float8, until float8, metric jsonb, skew float8, containers integer,
    docker_version text, agent_version text
)
WHERE n.uuid = v.uuid AND n.state <> %s
RETURNING n.id, n.uuid, n.state
"""

_SQLITE = """
UPDATE {table} SET
    last_seen = v.seen,
    unreachable_after = v.until,
    last_metric = COALESCE(v.metric, {table}.last_metric),
    clock_skew = COALESCE(v.skew, {table}.clock_skew),
    current_num_containers = COALESCE(v.containers, {table}.current_num_containers),
    docker_version = COALESCE(v.docker_version, {table}.docker_version),
    agent_version = COALESCE(v.agent_version, {table}.agent_version)
FROM (
    SELECT json_extract(value, '$.uuid') AS uuid, json_extract(value, '$.seen') AS seen,
        json_extract(value, '$.until') AS until, json_extract(value, '$.metric') AS metric,
        json_extract(value, '$.skew') AS skew, json_extract(value, '$.containers') AS containers,
        json_extract(value, '$.docker_version') AS docker_version,
        json_extract(value, '$.agent_version') AS agent_version
    FROM json_each(%s)
) AS v
WHERE {table}.uuid = v.uuid AND {table}.state <> %s
RETURNING {table}.id, {table}.uuid, {table}.state
"""


def _row(key: str, entry: dict, sqlite: bool) -> dict:
    names = ("metric", "skew", "containers", "docker_version", "agent_version")
    row = {k: entry.get(k) for k in names}
    row["uuid"] = key
    if sqlite:  # datetimes as Django keeps them in SQLite: text it compares as text
        for name in ("seen", "until"):
            moment = datetime.fromtimestamp(entry[name], UTC)
            row[name] = connection.ops.adapt_datetimefield_value(moment)
    else:
        row["seen"], row["until"] = entry["seen"], entry["until"]
    return row


def write_liveness(entries: dict[str, dict]) -> list[tuple[int, uuid.UUID, str]]:
    """Write `entries` (node uuid hex -> what the store kept); return (id, uuid, state) of each
    row written (a terminated or deleted node's entry writes nothing)."""
    sqlite = connection.vendor == "sqlite"
    sql = (_SQLITE if sqlite else _POSTGRESQL).format(table=Node._meta.db_table)
    written: list[tuple[int, uuid.UUID, str]] = []
    items = list(entries.items())
    for start in range(0, len(items), BATCH):
        rows = [_row(key, entry, sqlite) for key, entry in items[start : start + BATCH]]
        with connection.cursor() as cursor:
            cursor.execute(sql, [json.dumps(rows), NodeState.TERMINATED])
            written.extend(
                (pk, uuid.UUID(str(node_uuid)), state) for pk, node_uuid, state in cursor.fetchall()
            )
    return written
