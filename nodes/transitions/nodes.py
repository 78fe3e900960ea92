"""Nodes: register, create, edit, upgrade, terminate, forget the agent (liveness: `liveness`).

Audited as before this table existed: a registration (by the registering address), a Docker
upgrade and a termination (by whoever asked: a user, or the system for the reconciler's scale
down, replacement and cluster termination), and a user's edit. Not audited: what follows on its
own (Upgrading -> Deployed, Terminating -> Terminated: one termination is one row), a cluster's
new node and the tags a cluster gives its nodes (the cluster's own row records them), and the
reaper's return of a node (its `action.reap` row records it).
"""

import functools
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.audit import Actor, audit_record
from accounts.models import Organization

from .. import hooks
from ..agent_rpc import agent_disconnect
from ..events import node_state_event
from ..models import Connection, Node, NodeCluster, NodeState
from . import Transition, apply, current_state, refused, table

DEPLOYING, DEPLOYED = NodeState.DEPLOYING, NodeState.DEPLOYED
UNREACHABLE, UPGRADING = NodeState.UNREACHABLE, NodeState.UPGRADING
TERMINATING, TERMINATED = NodeState.TERMINATING, NodeState.TERMINATED
LIVE = (DEPLOYING, DEPLOYED, UNREACHABLE, UPGRADING)

NODE = table(
    # A BYO node is born registering; a provider node is created first, Deploying, and its
    # host's registration fills it in.
    Transition("create", (), DEPLOYING),
    Transition("register", (DEPLOYING,), DEPLOYING, audit="node.register"),
    # Liveness (nodes.transitions.liveness): frequent, never audited.
    Transition("reach", (DEPLOYING, UNREACHABLE), DEPLOYED),
    Transition("unreachable", (DEPLOYED, UPGRADING), UNREACHABLE),
    Transition("upgrade", (DEPLOYED,), UPGRADING, audit="node.docker_upgrade"),
    Transition("upgraded", (UPGRADING,), DEPLOYED),
    # The reaper, when no worker finished an upgrade: its agent stopped heartbeating.
    Transition("upgrade_lost", (UPGRADING,), UNREACHABLE),
    Transition("terminate", LIVE, TERMINATING, audit="node.terminate"),
    Transition("forget", (*LIVE, TERMINATING), TERMINATED),
)


def _emit(node: Node | int, action: str = "update") -> None:
    node_state_event(node_id=node if isinstance(node, int) else node.pk, action=action)


def _audit(actor: Actor, name: str, node: Node, **kwargs) -> None:
    audit_record(actor=actor, action=name, organization=node.organization, obj=node, **kwargs)


def _move(actor: Actor, node: Node, name: str, verb: str, **fields) -> None:
    """The transition `name`, or a 400 naming the states it needs."""
    transition = NODE[name]
    if not apply(Node, node.pk, transition, **fields):
        current = current_state(Node, node.pk)
        allowed = " or ".join(transition.sources)
        raise refused(f"Cannot {verb} a node in state {current}: it must be {allowed}.")
    node.state = transition.target
    _audit(actor, transition.audit, node)
    _emit(node)


# --- create, register, edit ---------------------------------------------------------------
def node_create(*, cluster: NodeCluster, nickname: str, tags: list, deploy_deadline) -> Node:
    """A cluster's new node, Deploying until its host registers."""
    node = Node.objects.create(
        organization=cluster.organization,
        node_cluster=cluster,
        state=NODE["create"].target,
        provider=cluster.provider,
        region=cluster.region,
        node_type=cluster.node_type,
        nickname=nickname,
        tags=tags,
        deploy_deadline=deploy_deadline,
    )
    _emit(node, "create")
    return node


def node_registration_save(
    *, organization: Organization, node: Node, fields: dict, remote_ip: str | None
) -> Node | None:
    """Store a registration: fill in the provider node `node` (if it is still Deploying), or
    create the BYO node `node` (unsaved: its uuid is in the certificate just signed). None if
    the provider node left Deploying meanwhile."""
    if node.pk is None:
        node = Node.objects.create(
            uuid=node.uuid, organization=organization, state=NODE["create"].target, **fields
        )
        created = True
    elif apply(Node, node.pk, NODE["register"], **fields):
        for name, value in fields.items():
            setattr(node, name, value)
        created = False
    else:
        return None
    _audit(Actor(user=None, ip=remote_ip), NODE["register"].audit, node, object_repr=node.hostname)
    _emit(node, "create" if created else "update")
    return node


def node_edit(*, node: Node, fields: dict, actor: Actor | None = None) -> None:
    """Change what is not the state (nickname, tags); `actor` audits it as `node.update`
    (None: part of a change audited elsewhere, as a cluster's tags)."""
    if not fields:
        return
    assert "state" not in fields, "states change through the transitions"  # noqa: S101
    for name, value in fields.items():
        setattr(node, name, value)
    node.save(update_fields=list(fields))
    if actor is not None:
        _audit(actor, "node.update", node, data={"fields": list(fields)})
    _emit(node)


def node_host_record(*, node: Node, host_id: str) -> None:
    """The provider's host of a cluster's node (not in the API's node: no event)."""
    node.provider_host_id = host_id
    Node.objects.filter(pk=node.pk).update(provider_host_id=host_id)


def node_agent_upgraded(*, node_id: int, agent_version: str) -> None:
    Node.objects.filter(pk=node_id).exclude(state=TERMINATED).update(
        agent_version=agent_version[:64]
    )
    _emit(node_id)


# --- upgrade ------------------------------------------------------------------------------
def node_upgrade_begin(*, actor: Actor, node: Node) -> None:
    """Deployed -> Upgrading (a 400 otherwise)."""
    _move(actor, node, "upgrade", "upgrade Docker on")


def node_upgrade_done(*, node_id: int, docker_version: str | None) -> None:
    """Upgrading -> Deployed, with the version the daemon reports (kept if unknown)."""
    fields: dict[str, Any] = {"docker_version": docker_version[:64]} if docker_version else {}
    if apply(Node, node_id, NODE["upgraded"], **fields):
        _emit(node_id)


def node_upgrade_abandon(*, node_id: int) -> str | None:
    """The reaper, for an upgrade no worker finished: Upgrading -> Deployed if the agent still
    heartbeats with its daemon running, else Unreachable (a heartbeat asks for a probe, which
    brings it back). Returns the state reached; None if it was not Upgrading."""
    now = timezone.now()
    node = Node.objects.filter(pk=node_id).only("unreachable_after", "last_metric").first()
    if node is None:
        return None
    alive = node.unreachable_after is not None and node.unreachable_after > now
    alive = alive and (node.last_metric or {}).get("dockerd_running") is not False
    # The heartbeat deadline is checked again in the update: the sweep may have won meanwhile.
    if alive and apply(Node, node_id, NODE["upgraded"], where={"unreachable_after__gt": now}):
        _emit(node_id)
        return DEPLOYED
    lost = "the Docker upgrade did not finish and its agent stopped sending heartbeats"
    if apply(Node, node_id, NODE["upgrade_lost"], unreachable_reason=lost):
        _emit(node_id)
        return UNREACHABLE
    return None


# --- terminate ----------------------------------------------------------------------------
def node_terminate_begin(*, actor: Actor, node: Node, reason: str = "") -> None:
    """Deploying | Deployed | Unreachable | Upgrading -> Terminating (a 400 otherwise), audited
    as `node.terminate` by `actor`: the one row of a termination."""
    fields = {"error": reason[:1000]} if reason else {}
    _move(actor, node, "terminate", "terminate", **fields)


def node_is(node: Node, state: str) -> bool:
    """The node's state now, in the database (another process may have moved it)."""
    return current_state(Node, node.pk) == state


def node_forget_agent(*, node: Node) -> bool:
    """-> Terminated: revoke the agent's secret and the certificate's pin, close its socket.
    False if it was Terminated already."""
    forgotten = apply(
        Node, node.pk, NODE["forget"],
        agent_secret_digest="", cert_sha256="", destroyed_datetime=timezone.now(),
        connection=Connection.UNKNOWN,
    )  # fmt: skip
    if forgotten:
        node.state = TERMINATED
        hooks.node_ended(node)
        _emit(node, "delete")
        # Its socket was authenticated before: close it, in whichever web process holds it.
        transaction.on_commit(functools.partial(agent_disconnect, node.uuid, "deregistered"))
    return forgotten
