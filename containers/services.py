"""Container verbs: run, start, stop, redeploy, terminate; and the end of a node's containers.

Each verb validates and moves the container in the request (a refusal is a 400 that leaves
nothing behind), records its Action there, and queues the work on the node for after the
commit; the task moves the Action through In progress to Success or Failed with its log.
"""

import re
import shlex
import uuid as uuid_module

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts.audit import Actor
from accounts.models import Organization
from nodes.models import Action, Node, NodeState
from overlay.addresses import OverlayFull, address_allocate, address_release

from . import selectors
from .models import Container
from .transitions import container_move, container_record, container_set, container_uri, now

NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$")
IMAGE = re.compile(r"^[a-z0-9][a-z0-9._/:@-]{0,254}$", re.IGNORECASE)
MAX_COMMAND = 1000


def _clean(*, name, image, run_command) -> tuple[str, str, str]:
    errors = {}
    if not isinstance(name, str) or not NAME.match(name):
        errors["name"] = ["Give 1 to 64 letters, digits, '.', '_' or '-', starting alphanumeric."]
    if not isinstance(image, str) or not IMAGE.match(image):
        errors["image"] = ["Give an image reference such as local/busybox:lab."]
    if not isinstance(run_command, str) or len(run_command) > MAX_COMMAND:
        errors["run_command"] = [f"Give a command of at most {MAX_COMMAND} characters."]
    else:
        try:
            shlex.split(run_command)
        except ValueError as exc:
            errors["run_command"] = [f"The command cannot be parsed: {exc}."]
    if errors:
        raise ValidationError(errors)
    return name, image, run_command


def node_choose(*, organization: Organization, node: Node | None, tag: str = "") -> Node:
    """The node given (it must be Deployed), else the Deployed node with fewest containers
    (carrying `tag`, when one is given)."""
    if node is not None:
        if node.state != NodeState.DEPLOYED:
            raise ValidationError({"node": [f"The node {node} is {node.state}, not Deployed."]})
        return node
    candidates = selectors.nodes_by_load(organization=organization)
    if tag:
        candidates = [n for n in candidates if {"name": tag} in (n.tags or [])]
    if not candidates:
        where = f" with the tag {tag}" if tag else ""
        raise ValidationError({"node": [f"No Deployed node{where} to run it on."]})
    return candidates[0]


@transaction.atomic
def container_run(
    *,
    actor: Actor,
    organization: Organization,
    action: Action,
    name,
    image,
    run_command="",
    node: Node | None = None,
    tag: str = "",
) -> Container:
    """A new container, Starting, with its overlay address; it runs once the task has made
    it on its node."""
    from .tasks import deploy_container

    name, image, run_command = _clean(name=name, image=image, run_command=run_command)
    target = node_choose(organization=organization, node=node, tag=tag)
    if selectors.container_name_taken(organization=organization, name=name):
        raise ValidationError({"name": [f"A container named {name} exists already."]})
    try:
        with transaction.atomic():
            container = Container.objects.create(
                organization=organization,
                name=name,
                image=image,
                run_command=run_command,
                node=target,
            )
    except IntegrityError:
        raise ValidationError({"name": [f"A container named {name} exists already."]}) from None
    try:
        address = address_allocate(organization=organization, holder=container.uuid)
    except OverlayFull as exc:
        raise ValidationError({"node": [f"overlay: {exc}"]}) from None
    container_set(container=container, private_ip=address)
    container_record(actor=actor, container=container)
    # The action was made before its object: name it now, so its pages and filters find it.
    Action.objects.filter(pk=action.pk).update(
        object_uri=container_uri(container), object_uuid=container.uuid
    )
    transaction.on_commit(lambda: deploy_container.delay(container.pk, action.pk))
    return container


@transaction.atomic
def container_start(*, actor: Actor, container: Container, action: Action) -> None:
    from .tasks import start_container

    container_move(container=container, name="start", actor=actor, verb="start")
    transaction.on_commit(lambda: start_container.delay(container.pk, action.pk))


@transaction.atomic
def container_stop(*, actor: Actor, container: Container, action: Action) -> None:
    from .tasks import stop_container

    container_move(container=container, name="stop", actor=actor, verb="stop")
    transaction.on_commit(lambda: stop_container.delay(container.pk, action.pk))


@transaction.atomic
def container_redeploy(
    *, actor: Actor, container: Container, action: Action, node: Node | None = None
) -> None:
    """Run it again from its image, on `node` if given (else where it is), at its address:
    the old one is removed first."""
    from .tasks import deploy_container

    target = node_choose(organization=container.organization, node=node or container.node)
    old_node, old_id = container.node, container.docker_id
    container_move(container=container, name="redeploy", actor=actor, verb="redeploy")
    container_set(container=container, node=target, docker_id="")
    transaction.on_commit(
        lambda: deploy_container.delay(container.pk, action.pk, old_node.pk, old_id)
    )


@transaction.atomic
def container_terminate(*, actor: Actor, container: Container, action: Action) -> None:
    from .tasks import terminate_container

    container_move(container=container, name="terminate", actor=actor, verb="terminate")
    transaction.on_commit(lambda: terminate_container.delay(container.pk, action.pk))


def container_ended(*, container: Container) -> bool:
    """Terminated: its address returns to the pool. False if it was already."""
    with transaction.atomic():
        ended = container_move(container=container, name="terminated", destroyed_datetime=now())
        if ended:
            address_release(organization=container.organization, holder=container.uuid)
        return ended


def containers_end_with_node(node: Node) -> None:
    """A node ended (its host is gone, or its agent deregistered): its containers with it."""
    for container in selectors.live_containers_on(node=node):
        container_ended(container=container)


def container_observed(*, event) -> None:
    """A node's daemon says one of our containers died or started by itself (it exited, or
    the daemon restarted it): its state follows. Verbs in flight own their transitions."""
    from .runtime import LABEL

    try:
        holder = uuid_module.UUID(str(event.attributes.get(LABEL)))
    except ValueError:
        return
    container = selectors.container_for_daemon(
        node_id=event.node_id, uuid=holder, docker_id=event.actor_id
    )
    if container is None:
        return
    if event.action == "die":
        code = str(event.attributes.get("exitCode", ""))
        exit_code = int(code) if code.lstrip("-").isdigit() and len(code) < 10 else None
        container_move(
            container=container, name="stopped", exit_code=exit_code, stopped_datetime=event.time
        )
    elif event.action == "start":
        container_move(container=container, name="came_back", started_datetime=event.time)


def container_settle(action: Action) -> str:
    """The reaper failed `action` (no worker finished it): its container leaves the step it
    was in. Starting -> Stopped, Stopping -> Running (start or stop it again);
    Terminating stays (terminate it again)."""
    container = selectors.container_of_action(action=action)
    if container is None:
        return "nothing else was changed"
    if container_move(container=container, name="start_failed"):
        container_set(container=container, error="No worker finished starting it")
    container_move(container=container, name="stop_failed")
    return f"the container is {container.state}"
