"""A node leaves its organization's swarm before it ends."""

import time
from collections.abc import Callable

import docker

from . import selectors, tokens
from .models import MemberStatus, OrgOverlay, OverlayMember
from .swarm import Seen, clip, close, look, remove_swarm_node, set_role

# A promoted manager takes a few seconds to have control of the swarm.
PROMOTION_WAIT = 20


def _promote_other(acting: Seen, workers: list[Seen]) -> Seen | None:
    """A manager is ending: the oldest worker takes a seat first, while the ending one is
    still there to answer (a manager joining raft may dial any manager it knows)."""
    for other in workers:
        if not other.active or not other.swarm_node_id:
            continue
        try:
            set_role(acting.client.nodes.get(other.swarm_node_id), "manager")
        except docker.errors.APIError:
            continue
        deadline = time.monotonic() + PROMOTION_WAIT
        while time.monotonic() < deadline:
            other.swarm = other.client.info().get("Swarm") or {}
            if other.has_control:
                return other
            time.sleep(0.5)
    return None


def leave(overlay: OrgOverlay, member: OverlayMember, log: Callable[[str], None]) -> None:
    node = member.node
    others = [
        look(n, m)
        for n in selectors.deployed_nodes(organization=overlay.organization)
        if n.pk != node.pk and (m := selectors.member_for_node(node=n)) is not None
    ]
    ending = look(node, member)
    try:
        usable = [s for s in others if s.client is not None and s.active]
        leader = next((s for s in usable if s.has_control), None)
        if ending.has_control:
            workers = [s for s in usable if not s.has_control]
            replacement = _promote_other(leader or ending, workers)
            leader = leader or replacement
        swarm_node_id = member.swarm_node_id or ending.swarm_node_id
        if leader is not None and swarm_node_id:
            try:  # demoted while it can still hand over (docker refuses to remove a manager)
                set_role(leader.client.nodes.get(swarm_node_id), "worker")
            except docker.errors.APIError:
                pass
        if ending.client is not None and ending.active:
            try:
                ending.client.swarm.leave(force=True)
                log("overlay: the node left its swarm")
            except docker.errors.APIError as exc:
                log(f"overlay: leaving the swarm failed: {clip(tokens.scrub(overlay, str(exc)))}")
        if usable:
            tokens.rotate_soon(overlay)  # whatever happens below, the next pass rotates them
        if leader is not None:
            if swarm_node_id:
                try:
                    remove_swarm_node(leader.client.nodes.get(swarm_node_id))
                except docker.errors.APIError:
                    pass  # gone already
            try:
                tokens.rotate(overlay, leader.client)
                log("overlay: removed from the swarm's node list; join tokens rotated")
            except docker.errors.APIError as exc:
                # Raft is electing a leader after this manager left: the next pass rotates.
                reason = clip(tokens.scrub(overlay, str(exc)))
                log(f"overlay: tokens to be rotated by the next pass ({reason})")
        elif not usable:
            # The last node: the swarm ends with it; a new one starts with the next node.
            overlay.swarm_id = overlay.network_id = ""
            overlay.worker_token_encrypted = overlay.manager_token_encrypted = ""
            overlay.save()
    finally:
        close(others + [ending])
    member.status, member.manager, member.swarm_node_id, member.reason = (
        MemberStatus.LEFT, False, "", "",
    )  # fmt: skip
    member.save(update_fields=["status", "manager", "swarm_node_id", "reason", "updated"])
