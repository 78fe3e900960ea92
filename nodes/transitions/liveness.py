"""Liveness: hello, heartbeats, the daemon reached or not, the sweep of missed heartbeats.

The hot path (every agent, every few seconds): deadlines and conditional updates, no row locks,
no audit rows (Deployed <-> Unreachable flaps); an event only when a state changes, never for a
heartbeat that changes none.
"""

import math
from datetime import timedelta

from django.utils import timezone

from .. import hooks, metrics
from ..events import node_state_event
from ..models import Node, NodeState
from . import apply
from .nodes import NODE

MAX_CONTAINERS = 2**31 - 1  # the column's bound on every database
MAX_REASON = 300  # Node.unreachable_reason
MISSED_HEARTBEATS = 3
MAX_METRIC = 1e15  # MB or GB: more than any host has; a load average far past any machine's
MAX_TIME = 1e11  # seconds since 1970: year 5138
# A probe echo counts when it is our own recent one and its round trip was plausible.
PROBE_MAX_AGE = 3600.0
PROBE_MAX_DELAY = 30.0


def _alive_fields(node: Node, now) -> dict:
    grace = timedelta(seconds=node.heartbeat_interval * MISSED_HEARTBEATS)
    return {"last_seen": now, "unreachable_after": now + grace}


def _version(value) -> str | None:
    return value[:64] if isinstance(value, str) and value else None


def node_hello(*, node: Node, hello: dict) -> None:
    now = timezone.now()
    fields = _alive_fields(node, now)
    for key in ("docker_version", "agent_version"):
        if version := _version(hello.get(key)):
            fields[key] = version
    Node.objects.filter(pk=node.pk).exclude(state=NodeState.TERMINATED).update(**fields)


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


def node_heartbeat(*, node: Node, beat: dict) -> bool:
    """Record a heartbeat; return True when the node needs a connectivity check."""
    now = timezone.now()
    fields = _alive_fields(node, now)
    containers = beat.get("containers")
    total = containers.get("total") if isinstance(containers, dict) else None
    if isinstance(total, int) and not isinstance(total, bool):
        fields["current_num_containers"] = min(max(total, 0), MAX_CONTAINERS)
    if version := _version(beat.get("docker_version")):
        fields["docker_version"] = version
    skew = clock_skew(beat, now.timestamp())
    metric = _metric(beat)
    if skew is not None:
        fields["clock_skew"] = skew
        metric["clock_skew"] = round(skew, 3)
    fields["last_metric"] = metric
    metrics.metric_record(node_id=node.pk, metric=metric, at=now)
    Node.objects.filter(pk=node.pk).exclude(state=NodeState.TERMINATED).update(**fields)
    current = Node.objects.filter(pk=node.pk).values_list("state", flat=True).first()
    running = beat.get("dockerd_running", True) is True
    return running and current in (NodeState.DEPLOYING, NodeState.UNREACHABLE)


def node_set_reached(*, node_id: int, connection: str) -> bool:
    """The daemon answered over mutual TLS: Deploying/Unreachable -> Deployed. True if changed."""
    now = timezone.now()
    changed = apply(
        Node, node_id, NODE["reach"], connection=connection, last_seen=now, unreachable_reason=""
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
    """Flip Deployed nodes whose heartbeats stopped to Unreachable; return the ids flipped."""
    now = timezone.now()
    flipped = []
    unreachable = NODE["unreachable"]
    overdue = Node.objects.filter(
        state__in=unreachable.sources, unreachable_after__lt=now
    ).values_list("pk", "state", "last_seen")
    for pk, state, last_seen in overdue:
        # Conditional on the state seen: another sweeper or a late heartbeat may have acted.
        if Node.objects.filter(pk=pk, state=state, unreachable_after__lt=now).update(
            state=unreachable.target, unreachable_reason=missed_heartbeats(last_seen, now)
        ):
            flipped.append(pk)
            node_state_event(node_id=pk)
    return flipped
