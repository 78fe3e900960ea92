"""Liveness: hello, heartbeats, the daemon reached or not, the sweep of missed heartbeats.

The hot path (every agent, every few seconds) writes no row: a heartbeat is validated here and
kept in the liveness store (`nodes.liveness_store`), and `nodes_flush_liveness` writes what
the store holds to the Node rows in one statement per batch, every DC_LIVENESS_FLUSH_SECONDS.
The sweep reads the store's deadlines as well as the rows, so a heartbeat not yet flushed still
counts. Deadlines and conditional updates, no row locks, no audit rows (Deployed <->
Unreachable flaps); an event only when a state changes, never for a heartbeat that changes none.
"""

import logging
import math
from datetime import UTC, datetime, timedelta

from django.utils import timezone

from .. import hooks, metrics
from ..addresses import node_address
from ..events import node_state_event
from ..liveness_store import store
from ..models import Node, NodeState
from . import apply
from .liveness_batch import write_liveness
from .nodes import NODE

log = logging.getLogger(__name__)

MAX_CONTAINERS = 2**31 - 1  # the column's bound on every database
MAX_REASON = 300  # Node.unreachable_reason
MISSED_HEARTBEATS = 3
MAX_METRIC = 1e15  # MB or GB: more than any host has; a load average far past any machine's
MAX_TIME = 1e11  # seconds since 1970: year 5138
# A probe echo counts when it is our own recent one and its round trip was plausible.
PROBE_MAX_AGE = 3600.0
PROBE_MAX_DELAY = 30.0


NEEDS_PROBE = (NodeState.DEPLOYING, NodeState.UNREACHABLE)


def _grace(heartbeat_interval: int) -> timedelta:
    return timedelta(seconds=heartbeat_interval * MISSED_HEARTBEATS)


def _alive(node: Node, entry: dict) -> None:
    """Keep `entry` (what the agent said, `last_seen` and the deadline added) in the store."""
    now = timezone.now()
    entry["seen"] = now.timestamp()
    entry["until"] = (now + _grace(node.heartbeat_interval)).timestamp()
    store().record(node.uuid.hex, entry, entry["until"])


def _version(value) -> str | None:
    return value[:64] if isinstance(value, str) and value else None


def node_hello(*, node: Node, hello: dict, address: str | None = None) -> bool:
    """An agent connected (`node` as read when it did, `address` its socket's client address):
    kept in the store like a heartbeat, no database. True when the node needs a check of how
    its daemon is reached: it is not Deployed, it was never reached, or its agent now comes
    from another address than the one it registered from. A Deployed node whose agent merely
    reconnects (a web process restarted) needs none."""
    entry = {}
    for key in ("docker_version", "agent_version"):
        if version := _version(hello.get(key)):
            entry[key] = version
    _alive(node, entry)
    moved = node_address(address)
    return (
        node.state in NEEDS_PROBE
        or not node.connection
        or (moved is not None and moved != node.public_ip)
    )


def _number(value) -> float | int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value if math.isfinite(value) and 0 <= value <= MAX_METRIC else None


def _metric(beat: dict) -> dict:
    """The heartbeat's load, memory and disk, in the agent's shape and nothing else: the node
    page and the API show it, and an agent may send anything."""

    def numbers(key: str, names: tuple[str, ...]) -> dict | None:
        given = beat.get(key)
        if not isinstance(given, dict):
            return None
        return {name: _number(given.get(name)) for name in names}

    load = beat.get("load")
    running = beat.get("dockerd_running")
    return {
        "load": [_number(x) for x in load[:3]] if isinstance(load, list) else None,
        "memory": numbers("memory", ("total_mb", "available_mb")),
        "disk": numbers("disk", ("total_gb", "free_gb")),
        "dockerd_running": running if isinstance(running, bool) else None,
    }


def _time(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value) if abs(value) < MAX_TIME else None


def clock_skew(beat: dict, received: float) -> float | None:
    """The node's clock minus ours, in seconds. With the echo of our last clock probe (sent at
    t0, seen by the agent at t1; the heartbeat left at t2 and arrived at t3) the network's delay
    cancels out: ((t1 - t0) + (t2 - t3)) / 2. Without one (the first heartbeat, an older agent,
    an echo that cannot be ours) the one-way reading t2 - t3 is all there is."""
    sent = _time(beat.get("time"))
    if sent is None:
        return None
    probe = beat.get("clock")
    if isinstance(probe, dict):
        t0, t1 = _time(probe.get("server_time")), _time(probe.get("received"))
        if t0 is not None and t1 is not None and received - PROBE_MAX_AGE <= t0 <= received:
            delay = (received - t0) - (sent - t1)
            if 0 <= delay <= PROBE_MAX_DELAY:
                return ((t1 - t0) + (sent - received)) / 2
    return sent - received


def node_heartbeat(*, node: Node, beat: dict) -> dict:
    """Keep a heartbeat in the liveness store (no database: the web process calls this on its
    event loop); return its validated metric. A node that needs a probe (Deploying or
    Unreachable with its daemon running) gets it from the flush that writes this heartbeat."""
    entry: dict = {"running": beat.get("dockerd_running", True) is True}
    containers = beat.get("containers")
    total = containers.get("total") if isinstance(containers, dict) else None
    if isinstance(total, int) and not isinstance(total, bool):
        entry["containers"] = min(max(total, 0), MAX_CONTAINERS)
    if version := _version(beat.get("docker_version")):
        entry["docker_version"] = version
    skew = clock_skew(beat, timezone.now().timestamp())
    metric = _metric(beat)
    if skew is not None:
        entry["skew"] = skew
        metric["clock_skew"] = round(skew, 3)
    # The heartbeat's validated metric: kept with it, recorded as the node's sample by the flush.
    entry["metric"] = metric
    _alive(node, entry)
    return metric


def nodes_flush_liveness() -> int:
    """Write every heartbeat and hello the store holds to the Node rows (one statement per
    batch), record each node's metric sample, and ask a probe for each node written that needs
    one; return the rows written."""
    from .. import services  # services imports the transitions

    taken = store().take()
    if not taken:
        return 0
    written = write_liveness(taken)
    for node_id, node_uuid, state in written:
        entry = taken[node_uuid.hex]
        if "metric" in entry:
            at = datetime.fromtimestamp(entry["seen"], UTC)
            metrics.metric_record(node_id=node_id, metric=entry["metric"], at=at)
        if state in NEEDS_PROBE and entry.get("running"):
            services.node_probe_request(node_id=node_id, node_uuid=node_uuid)
    return len(written)


def node_set_reached(*, node_id: int, connection: str) -> bool:
    """The daemon answered over mutual TLS: Deploying/Unreachable -> Deployed. True if changed."""
    now = timezone.now()
    interval = Node.objects.filter(pk=node_id).values_list("heartbeat_interval", flat=True).first()
    # Reached: alive now, for as long as a heartbeat would keep it (the sweep would otherwise
    # find the deadline of the heartbeats before it was Unreachable, and flip it straight back).
    until = now + _grace(interval or 0)
    changed = apply(
        Node,
        node_id,
        NODE["reach"],
        connection=connection,
        last_seen=now,
        unreachable_after=until,
        unreachable_reason="",
    )
    Node.objects.filter(pk=node_id, deployed_datetime=None).exclude(
        state=NodeState.DEPLOYING
    ).update(deployed_datetime=now)
    switched = (
        Node.objects.filter(pk=node_id).exclude(connection=connection).update(connection=connection)
    )
    if changed or switched:  # the API's node shows how it is reached
        node_state_event(node_id=node_id)
    if changed:
        hooks.node_deployed(node_id)
    return changed


def node_set_unreachable(*, node_id: int, reason: str = "") -> bool:
    """Deployed/Upgrading -> Unreachable, saying why (shown to the user: never a secret)."""
    changed = apply(Node, node_id, NODE["unreachable"], unreachable_reason=reason[:MAX_REASON])
    if changed:
        node_state_event(node_id=node_id)
    return changed


def missed_heartbeats(last_seen, now) -> str:
    if last_seen is None:
        return "no heartbeat received from its agent"
    silent = max(0, round((now - last_seen).total_seconds()))
    return f"no heartbeat for {silent} s, last seen at {last_seen.isoformat(timespec='seconds')}"


def nodes_sweep_unreachable() -> list[int]:
    """Flip Deployed nodes whose heartbeats stopped to Unreachable; return the ids flipped.

    A node overdue in its row but with a fresh deadline in the liveness store (a heartbeat the
    flush has not written yet) is alive: it is left alone."""
    now = timezone.now()
    flipped = []
    unreachable = NODE["unreachable"]
    overdue = list(
        Node.objects.filter(state__in=unreachable.sources, unreachable_after__lt=now).values_list(
            "pk", "uuid", "state", "last_seen"
        )
    )
    fresh = store().deadline_of([row[1].hex for row in overdue])
    for pk, node_uuid, state, last_seen in overdue:
        if fresh.get(node_uuid.hex, 0) > now.timestamp():
            continue
        # Conditional on the state seen: another sweeper or a late heartbeat may have acted.
        if Node.objects.filter(pk=pk, state=state, unreachable_after__lt=now).update(
            state=unreachable.target, unreachable_reason=missed_heartbeats(last_seen, now)
        ):
            flipped.append(pk)
            node_state_event(node_id=pk)
    return flipped
