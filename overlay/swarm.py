"""One organization's swarm, brought in line with its Deployed nodes (one pass, under its lock).

A pass reads each Deployed node's own view of the swarm (`docker info`), finds a manager that
has control, starts the swarm on the oldest node if there is none, joins the others, removes
what no longer belongs, keeps three managers once there are three nodes (replacing a lost one)
and makes sure the organization's attachable network exists. It records what it saw on each
node's OverlayMember: Ready, or Unreachable with the reason.
"""

import logging
from dataclasses import dataclass, field
from typing import Any

import docker
from docker.types import IPAMConfig, IPAMPool

from accounts.models import Organization
from nodes.docker_client import docker_client
from nodes.models import Node, NodeState

from . import peers, selectors, tokens
from .addresses import docker_range, overlay_ensure, swarm_pool
from .models import MemberStatus, OrgOverlay, OverlayMember

log = logging.getLogger(__name__)

SWARM_PORT = 2377
GOSSIP_PORT = 7946
VXLAN_PORT = 4789
MANAGERS = 3
DAEMON_TIMEOUT = 30


@dataclass
class Seen:
    """A Deployed node as its own daemon describes its place in a swarm."""

    node: Node
    member: OverlayMember
    client: Any = None
    error: str = ""
    swarm: dict = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return self.swarm.get("LocalNodeState") == "active"

    @property
    def swarm_node_id(self) -> str:
        return self.swarm.get("NodeID") or ""

    @property
    def has_control(self) -> bool:
        return self.active and bool(self.swarm.get("ControlAvailable"))

    def cluster_id(self) -> str:
        return (self.swarm.get("Cluster") or {}).get("ID") or ""


def clip(text: object, size: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= size else text[: size - 1] + "…"


def look(node: Node, member: OverlayMember) -> Seen:
    seen = Seen(node=node, member=member)
    try:
        seen.client = docker_client(node, timeout=DAEMON_TIMEOUT)
        seen.swarm = seen.client.info().get("Swarm") or {}
    except Exception as exc:  # noqa: BLE001 (any failure: the node is not usable now)
        seen.error = f"overlay: the control plane cannot reach the node's daemon ({clip(exc)})"
    return seen


def close(seen: list[Seen]) -> None:
    for s in seen:
        if s.client is not None:
            s.client.close()


def _mark(member: OverlayMember, status: str, reason: str = "", **fields) -> None:
    changed = ["status", "reason", "updated"]
    member.status, member.reason = status, clip(reason, 500)
    for name, value in fields.items():
        setattr(member, name, value)
        changed.append(name)
    member.save(update_fields=changed)


def _init(overlay: OrgOverlay, first: Seen) -> None:
    """A new swarm on `first`, its default address pool kept apart from every organization's
    subnet (ingress and any network docker itself allocates come from there)."""
    if first.active:
        first.client.swarm.leave(force=True)
    pool = swarm_pool()
    first.client.swarm.init(
        advertise_addr=first.node.public_ip,
        listen_addr=f"0.0.0.0:{SWARM_PORT}",
        default_addr_pool=[str(pool)],
        subnet_size=min(pool.prefixlen + 4, 29),
    )
    first.swarm = first.client.info().get("Swarm") or {}
    overlay.swarm_id, overlay.network_id = first.cluster_id(), ""
    tokens.store(overlay, first.client)
    log.info("overlay %s: swarm started on node %s", overlay.organization, first.node.uuid)


def _recover(overlay: OrgOverlay, seen: list[Seen]) -> Seen:
    """No manager has control: a node that still holds the swarm's state starts it again
    alone (the others rejoin), else a new swarm starts on the oldest node."""
    holder = next((s for s in seen if s.active and s.cluster_id() == overlay.swarm_id), None)
    if holder is not None and overlay.swarm_id:
        holder.client.swarm.init(
            advertise_addr=holder.node.public_ip,
            listen_addr=f"0.0.0.0:{SWARM_PORT}",
            force_new_cluster=True,
        )
        holder.swarm = holder.client.info().get("Swarm") or {}
        tokens.store(overlay, holder.client)
        log.warning("overlay %s: swarm recovered on %s", overlay.organization, holder.node.uuid)
        return holder
    _init(overlay, seen[0])
    return seen[0]


def _join(overlay: OrgOverlay, seen: Seen, leader: Seen) -> None:
    address = f"{leader.node.public_ip}:{SWARM_PORT}"
    try:
        state = seen.swarm.get("LocalNodeState")
        log.info(
            "overlay %s: node %s (%s %s) joins",
            overlay.organization, seen.node.uuid, state, clip(seen.swarm.get("Error") or ""),
        )  # fmt: skip
        if seen.active or state == "error":
            # In another swarm (an old one of ours, or its owner's), or stuck failing to take
            # a manager's seat: it leaves, and joins afresh (its old entry is pruned).
            seen.client.swarm.leave(force=True)
        seen.client.swarm.join(
            remote_addrs=[address],
            join_token=tokens.worker(overlay),
            advertise_addr=seen.node.public_ip,
            listen_addr=f"0.0.0.0:{SWARM_PORT}",
        )
        seen.swarm = seen.client.info().get("Swarm") or {}
    except docker.errors.APIError as exc:
        # Never the exception's text as is: it could carry the join token.
        text = tokens.scrub(overlay, str(exc.explanation or exc))
        if "timeout" in text.lower() or "deadline" in text.lower() or "connect" in text.lower():
            reason = f"overlay: cannot reach {address}"
        else:
            reason = f"overlay: could not join the swarm ({clip(text)})"
        _mark(seen.member, MemberStatus.UNREACHABLE, reason)
        log.warning("overlay %s: node %s: %s", overlay.organization, seen.node.uuid, reason)


def set_role(swarm_node, role: str) -> None:
    spec = dict(swarm_node.attrs["Spec"])
    spec["Role"] = role
    swarm_node.update(spec)
    swarm_node.reload()


def _is_manager(swarm_node) -> bool:
    return swarm_node.attrs.get("Spec", {}).get("Role") == "manager"


def _ready(swarm_node) -> bool:
    return swarm_node.attrs.get("Status", {}).get("State") == "ready"


def remove_swarm_node(swarm_node) -> None:
    """Out of the swarm's node list; a manager is demoted first (docker refuses otherwise),
    unless raft no longer knows it (promoted, then gone before it took its seat)."""
    if _is_manager(swarm_node):
        try:
            set_role(swarm_node, "worker")
        except docker.errors.NotFound:
            pass
    swarm_node.remove(force=True)


def _lost(swarm_node) -> bool:
    """A manager the others have given up on: down and unreachable. Right after a leader
    change every node reads "unknown" for a moment: that is no reason to demote anyone."""
    status = swarm_node.attrs.get("Status", {}).get("State")
    reach = (swarm_node.attrs.get("ManagerStatus") or {}).get("Reachability")
    return _is_manager(swarm_node) and status == "down" and reach != "reachable"


def _settling(swarm_node) -> bool:
    status = swarm_node.attrs.get("Status", {}).get("State")
    reach = (swarm_node.attrs.get("ManagerStatus") or {}).get("Reachability")
    return status not in ("ready", "down") or (_is_manager(swarm_node) and reach == "unknown")


def _managers(leader: Seen, ours: dict[str, Seen]) -> None:
    """Three managers once three nodes are ready (one before): a lost one demoted, ready
    workers promoted oldest first. Nothing changes while the swarm is settling (a leader
    change, a promotion under way): the next pass looks again."""
    listed = leader.client.nodes.list()
    if any(_settling(n) for n in listed):
        return
    ready = [n for n in listed if n.id in ours and _ready(n)]
    want = MANAGERS if len(ready) >= MANAGERS else 1
    for n in listed:
        if _lost(n) and n.id != leader.swarm_node_id:
            _set_role_quietly(n, "worker")  # its place goes to a ready worker
    good = [n for n in ready if _is_manager(n)]
    candidates = sorted(
        (n for n in ready if not _is_manager(n)), key=lambda n: ours[n.id].node.created
    )
    for n in candidates[: max(want - len(good), 0)]:
        _set_role_quietly(n, "manager")


def _set_role_quietly(swarm_node, role: str) -> None:
    try:
        set_role(swarm_node, role)
    except docker.errors.APIError as exc:  # gone meanwhile, or no quorum: the next pass sees
        log.warning("overlay: %s to %s failed: %s", swarm_node.id, role, clip(exc))


def _prune(leader: Seen, keep: set[str]) -> None:
    """Swarm nodes that are no live node of the organization's (terminated, replaced, or
    another host that used a leaked token) are removed."""
    for n in leader.client.nodes.list():
        if n.id not in keep and n.id != leader.swarm_node_id:
            try:
                remove_swarm_node(n)
            except docker.errors.APIError as exc:
                log.warning("overlay: removing swarm node %s failed: %s", n.id, clip(exc))


def _network(overlay: OrgOverlay, leader: Seen) -> None:
    name = overlay.network_name
    found = [n for n in leader.client.networks.list(names=[name]) if n.name == name]
    if found:
        network = found[0]
    else:
        options = {"encrypted": "true"} if overlay.encrypted else {}
        network = leader.client.networks.create(
            name,
            driver="overlay",
            attachable=True,
            ipam=IPAMConfig(
                pool_configs=[
                    IPAMPool(
                        subnet=overlay.subnet,
                        gateway=overlay.gateway,
                        iprange=str(docker_range(overlay.subnet)),
                    )
                ]
            ),
            options=options,
            labels={"io.dockercloud.organization": str(overlay.organization.uuid)},
        )
    if overlay.network_id != network.id:
        overlay.network_id = network.id
        overlay.save(update_fields=["network_id", "updated"])


def _statuses(overlay: OrgOverlay, leader: Seen, ours: dict[str, Seen]) -> None:
    """Ready as the managers see it, unless a peer's port cannot be reached (peers.py)."""
    manager_ip = leader.node.public_ip
    listed = {n.id: n for n in leader.client.nodes.list() if n.id in ours}
    ready = {i: ours[i] for i, n in listed.items() if _ready(n)}
    managers = [str(ours[i].node.public_ip) for i, n in listed.items() if _is_manager(n)]
    blocked = peers.reasons(ready, managers)
    for swarm_id, n in listed.items():
        if swarm_id in ready:
            reason = blocked.get(swarm_id, "")
        else:
            reason = f"overlay: cannot reach {manager_ip}:{SWARM_PORT}"
        status = MemberStatus.UNREACHABLE if reason else MemberStatus.READY
        _mark(ours[swarm_id].member, status, reason, manager=_is_manager(n), swarm_node_id=swarm_id)


def reconcile(organization: Organization) -> OrgOverlay:
    """One pass over the organization's swarm; the caller holds its lock."""
    overlay = overlay_ensure(organization=organization)
    nodes = selectors.deployed_nodes(organization=organization)
    if not nodes:
        _members_left(overlay, keep=[])
        return overlay
    members = {n.pk: _member(overlay, n) for n in nodes}
    seen = [look(n, members[n.pk]) for n in nodes]
    try:
        usable = [s for s in seen if s.client is not None and not s.error]
        for s in seen:
            if s.error:
                _mark(s.member, MemberStatus.UNREACHABLE, s.error)
        if not usable:
            return overlay
        leader = next(
            (s for s in usable if s.has_control and s.cluster_id() == overlay.swarm_id), None
        )
        if leader is None and any(s.error and s.member.manager for s in seen):
            # A manager the control plane cannot reach right now may well be fine: starting
            # the swarm again from what is left would split it. The next pass looks again.
            return overlay
        if leader is None or not overlay.swarm_id:
            leader = _recover(overlay, usable)
        overlay.save()
        for s in usable:
            if s is leader or _in_swarm(s, leader):
                continue
            state = s.swarm.get("LocalNodeState")
            if state in ("pending", "locked"):  # joining, or promoted: let it be
                _mark(s.member, MemberStatus.JOINING, _swarm_error(s))
                continue
            _join(overlay, s, leader)
        ours = {s.swarm_node_id: s for s in usable if _in_swarm(s, leader)}
        keep = ours.keys() | selectors.live_swarm_node_ids(overlay=overlay)
        _prune(leader, set(keep))
        _managers(leader, ours)
        _network(overlay, leader)
        if overlay.rotate_pending:  # a node left while the swarm could not rotate them
            try:
                tokens.rotate(overlay, leader.client)
            except docker.errors.APIError as exc:
                log.warning("overlay %s: tokens not rotated yet: %s", overlay.pk, clip(exc))
        _statuses(overlay, leader, ours)
        _members_left(overlay, keep=[n.pk for n in nodes])
        return overlay
    finally:
        close(seen)


def _swarm_error(seen: Seen) -> str:
    error = seen.swarm.get("Error") or ""
    return f"overlay: {clip(error)}" if error else ""


def _in_swarm(seen: Seen, leader: Seen) -> bool:
    """Active in the leader's swarm: a worker's info has no cluster id, so ask the leader
    whether it lists the node's id."""
    if not seen.active or not seen.swarm_node_id:
        return False
    if seen is leader:
        return True
    try:
        leader.client.nodes.get(seen.swarm_node_id)
    except docker.errors.NotFound:
        return False
    return True


def _member(overlay: OrgOverlay, node: Node) -> OverlayMember:
    member, _ = OverlayMember.objects.get_or_create(
        node=node, defaults={"overlay": overlay, "status": MemberStatus.JOINING}
    )
    return member


def _members_left(overlay: OrgOverlay, keep: list[int]) -> None:
    """Members whose node ended are Left; those whose node is away for now (Unreachable,
    Upgrading) keep their seat but say why they cannot take containers."""
    away = overlay.members.exclude(node_id__in=keep).exclude(status=MemberStatus.LEFT)
    # A Terminating node is its termination's to take out (it leaves the swarm, the tokens
    # rotate: overlay.leave); one that ended without that (its hook failed) is Left here, and
    # the tokens it knew are rotated by the next pass.
    ended = away.filter(node__state=NodeState.TERMINATED)
    if ended.exclude(swarm_node_id="").exists():
        tokens.rotate_soon(overlay)
    ended.update(status=MemberStatus.LEFT, manager=False, swarm_node_id="", reason="")
    for member in away.exclude(node__state__in=selectors.ENDED).select_related("node"):
        _mark(member, MemberStatus.UNREACHABLE, f"overlay: the node is {member.node.state}")
