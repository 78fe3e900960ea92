"""Node verbs of the Docker Cloud API: update, docker-upgrade, health-check, terminate (and our
agent-upgrade).

Each verb validates and records its Action in the request, then queues a task on commit; the
task moves the Action through In progress to Success or Failed and the node to its next state.
"""

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.audit import SYSTEM, Actor, audit_record

from . import hooks, provisioning
from .agent_rpc import AgentUnavailable, agent_command
from .models import Action, Node, NodeState
from .transitions import actions
from .transitions.clusters import cluster_shrink
from .transitions.nodes import (
    node_edit,
    node_forget_agent,
    node_is,
    node_terminate_begin,
    node_upgrade_begin,
)

TAG_MAX = 50
DEREGISTER_TIMEOUT = 30


def clean_tags(value) -> list[dict]:
    """`[{"name": str}]`, as Docker Cloud clients send (a write replaces the whole list)."""
    if not isinstance(value, list):
        raise ValidationError({"tags": ['Expected a list of {"name": ...} objects.']})
    names = []
    for item in value:
        name = item.get("name") if isinstance(item, dict) else item
        if not isinstance(name, str) or not name.strip() or len(name) > 100:
            raise ValidationError({"tags": ["Each tag needs a name of 1 to 100 characters."]})
        if name not in names:
            names.append(name.strip())
    if len(names) > TAG_MAX:
        raise ValidationError({"tags": [f"At most {TAG_MAX} tags."]})
    return [{"name": n} for n in names]


@transaction.atomic
def node_update(*, actor: Actor, node: Node, action: Action, nickname=None, tags=None) -> Node:
    """Nickname and tags take effect at once; the Action is complete when this returns."""
    fields: dict[str, Any] = {}
    if nickname is not None:
        if not isinstance(nickname, str) or len(nickname) > 255:
            raise ValidationError({"nickname": ["Give a nickname of at most 255 characters."]})
        fields["nickname"] = nickname
    if tags is not None:
        fields["tags"] = clean_tags(tags)
    node_edit(node=node, fields=fields, actor=actor)
    actions.action_start(action_id=action.pk)
    actions.action_finish(action_id=action.pk, success=True)
    return node


@transaction.atomic
def node_docker_upgrade(*, actor: Actor, node: Node, action: Action) -> None:
    from .tasks import upgrade_docker

    node_upgrade_begin(actor=actor, node=node)
    transaction.on_commit(lambda: upgrade_docker.delay(node.pk, action.pk))


@transaction.atomic
def node_agent_upgrade(*, actor: Actor, node: Node, action: Action) -> None:
    """Install the control plane's agent on a Deployed node (it restarts itself in place)."""
    from .tasks import upgrade_agent

    if node.state != NodeState.DEPLOYED:
        raise ValidationError(
            {"state": [f"Cannot upgrade the agent of a node in state {node.state}."]}
        )
    audit_record(actor=actor, action="node.agent_upgrade", organization=node.organization, obj=node)
    transaction.on_commit(lambda: upgrade_agent.delay(node.pk, action.pk))


@transaction.atomic
def node_health_check(*, actor: Actor, node: Node, action: Action) -> None:
    from .tasks import health_check

    if node.state not in (NodeState.DEPLOYED, NodeState.UNREACHABLE):
        raise ValidationError({"state": [f"Cannot check a node in state {node.state}."]})
    transaction.on_commit(lambda: health_check.delay(node.pk, action.pk))


@transaction.atomic
def node_terminate(*, actor: Actor, node: Node, action: Action) -> None:
    from .tasks import terminate_node

    node_terminate_begin(actor=actor, node=node)
    if node.node_cluster_id:
        cluster_shrink(cluster_id=node.node_cluster_id)
    transaction.on_commit(lambda: terminate_node.delay(node.pk, action.pk))


def node_destroy(*, node: Node, actor: Actor = SYSTEM, reason: str = "", driver=None, log=None):
    """End a node: Terminating (audited as `node.terminate` by `actor`, unless a user's
    terminate did that already), its host destroyed by its provider (`driver`, else its
    cluster's) or its agent told to deregister, then its agent forgotten (Terminated).

    The one way a node ends, for a user's terminate (the task) and for the reconciler. Each
    step is idempotent, so running it again after a crash finishes the job. A provider's
    refusal raises DriverError and leaves the node Terminating.
    """
    log = log or (lambda line: None)
    if not node_is(node, NodeState.TERMINATING):
        try:
            node_terminate_begin(actor=actor, node=node, reason=reason)
        except ValidationError:
            # Ended meanwhile, or being ended by another worker (whose step it redoes, safely).
            if node_is(node, NodeState.TERMINATED):
                return
            if not node_is(node, NodeState.TERMINATING):
                raise
    hooks.node_ending(node, log)
    if node.provider_host_id and node.node_cluster is not None:
        driver = driver or provisioning.driver_for_cluster(node.node_cluster)
        driver.destroy_host(node.provider_host_id)
        log(f"The {node.provider} host {node.provider_host_id} is destroyed")
    elif node.agent_secret_digest:  # it registered: its agent may be there to hear it
        _deregister(node, log)
    node_forget_agent(node=node)


def _deregister(node: Node, log) -> None:
    try:
        result = agent_command(node.uuid, "deregister", timeout=DEREGISTER_TIMEOUT)
        ok = result.get("ok")
        log("The agent deregistered" if ok else f"Agent: {result.get('error')}")
    except AgentUnavailable:
        log("The agent is not connected; its credentials are revoked")


# The access policy's verb for each action a user can start, on the action's object.
ACTION_VERBS = {
    "Node Update": "change",
    "Node Terminate": "terminate",
    "Node Upgrade Docker": "upgrade",
    "Node Upgrade Agent": "agent_upgrade",
    "Node Health Check": "health_check",
    "Node Cluster Create": "use",
    "Node Cluster Deploy": "deploy",
    "Node Cluster Scale": "change",
    "Node Cluster Update": "change",
    "Node Cluster Upgrade Docker": "upgrade",
    "Node Cluster Terminate": "terminate",
}

RETRIABLE = {
    "Node Upgrade Docker": node_docker_upgrade,
    "Node Upgrade Agent": node_agent_upgrade,
    "Node Health Check": node_health_check,
    "Node Terminate": node_terminate,
}


@transaction.atomic
def action_retry(*, actor: Actor, action: Action) -> Action:
    """Run a finished action's operation again, as a new Action on the same object."""
    if not action.can_be_retried:
        raise ValidationError({"state": [f"An action in state {action.state} cannot be retried."]})
    verb = RETRIABLE.get(action.action)
    node = (
        Node.objects.filter(uuid=action.object_uuid, organization=action.organization).first()
        if action.object_uuid is not None
        else None
    )
    if verb is None or node is None:
        raise ValidationError({"action": [f"'{action.action}' cannot be retried."]})
    new = actions.action_create(
        actor=actor,
        organization=action.organization,
        action=action.action,
        object_uri=action.object_uri,
        object_uuid=action.object_uuid,
        method=action.method,
        path=action.path,
        body=action.body,
    )
    verb(actor=actor, node=node, action=new)
    return new
