"""The reaper (beat, every DC_SWEEP_INTERVAL seconds): actions past their deadline fail.

An action gets its deadline when it starts: its verb's own time bound plus DC_ACTION_GRACE. Past
it, the worker running it died (or a node cluster did not converge): the action fails with a
message that says so and what became of its object, which returns to a settled state:

- Node Upgrade Docker: the node, Upgrading, returns to Deployed if its agent still heartbeats
  with its daemon running, else Unreachable (a heartbeat then asks for a probe).
- Node Terminate: the node stays Terminating and its termination is queued again, as a system
  action (every step of `node_destroy` is idempotent): the user asked for it to end, and its
  cluster already shrank.
- Node Cluster Deploy or Scale: the cluster becomes Partly deployed (Deploying if no node is
  Deployed) and its other open actions fail too; the reconciler keeps trying.
- Node Cluster Terminate: the cluster stays Terminating; the reconciler keeps ending its nodes.
- Actions on the objects of the apps above (containers): what their app registered says
  (`register_recovery`).
- Anything else (agent upgrade, health check, BYO over SSH): nothing else changed.

A task redelivered after its worker died finds its action started and leaves it to the reaper.
"""

from collections.abc import Callable

from django.db import transaction
from django.utils import timezone

from accounts.audit import SYSTEM

from . import selectors
from .clusters import cluster_fail_stuck
from .models import Action, Node, NodeCluster, NodeState
from .transitions import actions
from .transitions.nodes import node_is, node_upgrade_abandon

# Action name prefix -> how to settle its object: returns what became of it.
_recoveries: dict[str, Callable[[Action], str]] = {}


def register_recovery(prefix: str, recover: Callable[[Action], str]) -> None:
    """An app above says how to settle the objects of its actions ("Container ...")."""
    _recoveries[prefix] = recover


def _took(action: Action) -> str:
    deadline = action.deadline or timezone.now()
    seconds = round((deadline - (action.start_date or action.created)).total_seconds())
    return f"{seconds} seconds" if seconds < 120 else f"{round(seconds / 60)} minutes"


def _upgrade(action: Action, node: Node) -> str:
    state = node_upgrade_abandon(node_id=node.pk)
    if state == NodeState.UNREACHABLE:
        return "the node was returned to Unreachable (its agent stopped heartbeating)"
    return f"the node was returned to {state}" if state else _is(node)


def _terminate(action: Action, node: Node) -> str:
    from .tasks import terminate_node

    if not node_is(node, NodeState.TERMINATING):
        return _is(node)
    again = actions.action_create(
        actor=SYSTEM,
        organization=action.organization,
        action=action.action,
        object_uri=action.object_uri,
        object_uuid=action.object_uuid,
    )
    transaction.on_commit(lambda: terminate_node.delay(node.pk, again.pk))
    return f"the node stays Terminating and its termination was queued again (action {again.uuid})"


def _is(obj: Node | NodeCluster | None) -> str:
    if obj is None:
        return "nothing else was changed"
    obj.refresh_from_db(fields=["state"])
    kind = "node cluster" if isinstance(obj, NodeCluster) else "node"
    return f"the {kind} is {obj.state}"


NODE_RECOVERY = {"Node Upgrade Docker": _upgrade, "Node Terminate": _terminate}
CLUSTER_CONVERGING = ("Node Cluster Deploy", "Node Cluster Scale")


def _message(action: Action, obj) -> str:
    """Return the action's object to a settled state; the message that says what happened."""
    took = _took(action)
    for prefix, settle in _recoveries.items():
        if action.action.startswith(prefix):
            return f"No worker finished this in {took}; {settle(action)}."
    if isinstance(obj, NodeCluster):
        if action.action in CLUSTER_CONVERGING:
            reason = f"The node cluster did not reach its target in {took}"
            cluster_fail_stuck(obj, reason)
            return f"{reason}; {_is(obj)}."
        return f"No worker finished this in {took}; {_is(obj)}."
    recover = NODE_RECOVERY.get(action.action) if isinstance(obj, Node) else None
    outcome = recover(action, obj) if recover else _is(obj)
    return f"No worker finished this in {took}; {outcome}."


def action_reap_one(*, action: Action) -> bool:
    """Fail one overdue action and settle its object; False if a worker finished it first."""
    with transaction.atomic():
        if not actions.action_reap_claim(action=action):
            return False
        message = _message(action, selectors.action_object(action=action))
        actions.action_reap_record(action=action, error=message)
    return True


def actions_reap() -> list[str]:
    """Every running action past its deadline; returns the uuids of those failed."""
    return [
        str(action.uuid)
        for action in selectors.actions_overdue(now=timezone.now())
        if action_reap_one(action=action)
    ]
