"""Any container on a node's daemon, as the node's containers page shows it: start, stop,
restart and remove asked of the daemon (mutual TLS or the agent's tunnel), each an Action on
the node with an audit row; its events are the Action's and the daemon's own, which the agent
forwards.

The control plane's own containers (`containers.models.Container`) are not acted on here:
their pages' verbs keep their state and overlay address; this refuses their daemon ids.
"""

import re

from django.core.exceptions import ValidationError
from django.db import transaction
from docker.errors import NotFound

from accounts.audit import Actor, audit_record
from nodes.models import Action, Node, NodeState

from . import runtime, selectors

DOCKER_ID = re.compile(r"^[0-9a-f]{64}$")
MAX_NAME = 128
# URL segment -> (Action name, permission on the node, the page's message).
VERBS = {
    "start": ("Node Container Start", "change", "Starting {name} on {node}."),
    "stop": ("Node Container Stop", "change", "Stopping {name} on {node}."),
    "restart": ("Node Container Restart", "change", "Restarting {name} on {node}."),
    "remove": ("Node Container Remove", "delete", "Removing {name} from {node}."),
}
TIMEOUT = runtime.CALL_TIMEOUT + runtime.STOP_GRACE


def node_container_check(*, node: Node, docker_id: str) -> None:
    """A 400 (ValidationError) unless `docker_id` names a container this page may act on."""
    if not isinstance(docker_id, str) or not DOCKER_ID.match(docker_id):
        raise ValidationError({"container": ["Give the container's full id (64 hex digits)."]})
    if node.state != NodeState.DEPLOYED:
        raise ValidationError({"node": [f"The node {node} is {node.state}, not Deployed."]})
    if selectors.managed_on_node(node=node, docker_ids=[docker_id]):
        raise ValidationError(
            {"container": ["The control plane runs this container: use its own page."]}
        )


@transaction.atomic
def node_container_verb(
    *, actor: Actor, node: Node, action: Action, verb: str, docker_id: str, name: str = ""
) -> None:
    """Ask the node's daemon to `verb` the container, after the commit, under `action`."""
    if verb not in VERBS:
        raise ValidationError({"verb": [f"Give one of {', '.join(VERBS)}."]})
    node_container_check(node=node, docker_id=docker_id)
    audit_record(
        actor=actor,
        action=f"node.container.{verb}",
        organization=node.organization,
        obj=node,
        data={"container": docker_id[:12], "name": str(name)[:MAX_NAME]},
    )
    from .tasks import node_container_run

    transaction.on_commit(lambda: node_container_run.delay(node.pk, action.pk, verb, docker_id))


def daemon_call(node: Node, verb: str, docker_id: str, log) -> None:
    """The verb, asked of the node's daemon now; a RuntimeFailure says why it failed."""
    client = runtime.client_for(node, TIMEOUT)
    api, short = client.api, docker_id[:12]
    try:
        if verb == "start":
            api.start(docker_id)
        elif verb == "stop":
            api.stop(docker_id, timeout=runtime.STOP_GRACE)
        elif verb == "restart":
            api.restart(docker_id, timeout=runtime.STOP_GRACE)
        else:
            api.remove_container(docker_id, force=True)
    except NotFound:
        raise runtime.RuntimeFailure(f"The container {short} is not on {node}.") from None
    except runtime.FAILURES as exc:
        raise runtime.RuntimeFailure(
            f"Docker on {node} refused to {verb} {short}: {runtime.reason(exc)}"
        ) from None
    finally:
        client.close()
    log(f"Docker on {node}: {verb} {short} done")
