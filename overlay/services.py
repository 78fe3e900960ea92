"""The mesh: each organization's Deployed nodes in one swarm, with one attachable overlay
network; what the container layer asks of it."""

import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Iterator

import docker
import requests
from django.conf import settings
from django.core.cache import cache

from accounts.models import Organization
from nodes.docker_client import docker_client
from nodes.models import Node, NodeState

from . import leave, selectors, swarm, tokens
from .addresses import OverlayFull, overlay_ensure
from .models import MemberStatus, OrgOverlay, OverlayMember

log = logging.getLogger(__name__)

# How long a caller waits for another worker's pass on the same swarm before giving up.
LOCK_WAIT = 90
# Failures of a daemon call: the node or its peers are not there, or docker said no.
DAEMON_ERRORS = (docker.errors.DockerException, requests.RequestException, OSError)


class OverlayUnavailable(Exception):
    """The node cannot take containers on the overlay now; the message says why
    ("overlay: cannot reach 10.0.0.5:7946")."""


def _lock_seconds() -> int:
    # A pass may wait on a few joins that time out (~20 s each): never shorter than that.
    return max(settings.DC_RECONCILE_LOCK_SECONDS, 120)


@contextlib.contextmanager
def org_lock(organization_id: int, *, wait: float = 0) -> Iterator[bool]:
    """One pass at a time on an organization's swarm, across every worker (the cache is
    shared); yields whether this caller holds it. A crashed holder's lock expires."""
    key, mine = f"overlay-reconcile:{organization_id}", uuid.uuid4().hex
    deadline = time.monotonic() + wait
    while not (got := cache.add(key, mine, timeout=_lock_seconds())):
        if time.monotonic() >= deadline:
            break
        time.sleep(0.2)
    try:
        yield got
    finally:
        if got and cache.get(key) == mine:
            cache.delete(key)


def overlay_reconcile(*, organization: Organization, wait: float = 0) -> OrgOverlay | None:
    """One pass over the organization's swarm (None: another worker holds its lock)."""
    with org_lock(organization.pk, wait=wait) as got:
        if not got:
            return None
        return swarm.reconcile(organization)


def _still_in(node: Node, member: OverlayMember) -> bool:
    try:
        client = docker_client(node, timeout=swarm.DAEMON_TIMEOUT)
        try:
            info = client.info().get("Swarm") or {}
        finally:
            client.close()
    except DAEMON_ERRORS:
        return False
    return info.get("LocalNodeState") == "active" and info.get("NodeID") == member.swarm_node_id


def _ready(node: Node) -> OverlayMember | None:
    member = selectors.member_for_node(node=node)
    if member is None or member.status != MemberStatus.READY or not member.overlay.network_id:
        return None
    return member


def network_attach(*, node: Node) -> str:
    """Make sure `node` is in its organization's swarm and the organization's network is
    there; return the docker network name a container on `node` attaches to (with its
    address from `addresses.address_allocate`). Raises OverlayUnavailable with the reason."""
    node.refresh_from_db(fields=["state", "public_ip", "connection"])
    if node.state != NodeState.DEPLOYED:
        raise OverlayUnavailable(f"overlay: the node is {node.state}, not Deployed")
    if not node.public_ip:
        raise OverlayUnavailable("overlay: the node has no address to advertise")
    try:
        overlay = overlay_ensure(organization=node.organization)
    except OverlayFull as exc:
        raise OverlayUnavailable(f"overlay: {exc}") from None
    member = _ready(node)
    if member is not None and _still_in(node, member):
        return overlay.network_name
    try:
        done = overlay_reconcile(organization=node.organization, wait=LOCK_WAIT)
    except DAEMON_ERRORS as exc:
        text = tokens.scrub(overlay, str(exc))
        raise OverlayUnavailable(f"overlay: {swarm.clip(text)}") from None
    if done is None:
        raise OverlayUnavailable("overlay: the organization's swarm is busy; try again")
    if _ready(node) is not None:
        return done.network_name
    member = selectors.member_for_node(node=node)
    reason = member.reason if member is not None else ""
    raise OverlayUnavailable(reason or "overlay: the node has not joined its swarm yet")


def member_leave(*, node: Node, log: Callable[[str], None]) -> None:
    """The node is ending: demoted if a manager (another takes its place), out of the swarm,
    off the managers' node list, and the join tokens rotated."""
    member = selectors.member_for_node(node=node)
    if member is None or member.status == MemberStatus.LEFT:
        return
    with org_lock(node.organization_id, wait=LOCK_WAIT) as got:
        if not got:
            log("overlay: the swarm is busy; leaving it without the lock")
        leave.leave(member.overlay, member, log)


def member_leave_hook(node: Node, log: Callable[[str], None]) -> None:
    """The `on_ending` hook: a daemon's failure is logged on the termination, never raised."""
    try:
        member_leave(node=node, log=log)
    except DAEMON_ERRORS as exc:
        log(f"overlay: leaving the swarm failed: {type(exc).__name__}")
