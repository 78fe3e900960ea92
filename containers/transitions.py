"""Every write of a container's state, with its audit row and its Docker Cloud event.

As in `nodes.transitions`: each named transition lists the states it may leave and the one it
reaches; it is one conditional UPDATE, and only the call that moved the row records the audit
row (where the user asked for it) and the event (`{"type": "container", ...}` with the node's
URI as parent).
"""

from django.db import transaction
from django.utils import timezone

from accounts.audit import Actor, audit_record
from nodes.events import platform_event_record
from nodes.events.render import node_uri
from nodes.transitions import Transition, apply, current_state, refused, table

from .models import Container, ContainerState

STARTING, RUNNING = ContainerState.STARTING, ContainerState.RUNNING
STOPPING, STOPPED = ContainerState.STOPPING, ContainerState.STOPPED
TERMINATING, TERMINATED = ContainerState.TERMINATING, ContainerState.TERMINATED
LIVE = (STARTING, RUNNING, STOPPING, STOPPED, TERMINATING)

CONTAINER = table(
    Transition("started", (STARTING,), RUNNING),
    Transition("start_failed", (STARTING,), STOPPED),
    Transition("start", (STOPPED,), STARTING, audit="container.start"),
    Transition("stop", (RUNNING,), STOPPING, audit="container.stop"),
    Transition("stopped", (STOPPING, RUNNING), STOPPED),
    Transition("stop_failed", (STOPPING,), RUNNING),
    # Its daemon restarted it (a daemon restart, a Docker upgrade): seen in the node's events.
    Transition("came_back", (STOPPED,), RUNNING),
    Transition("redeploy", (RUNNING, STOPPED), STARTING, audit="container.redeploy"),
    # Terminating again re-runs a termination that failed (its node did not answer).
    Transition("terminate", LIVE, TERMINATING, audit="container.terminate"),
    Transition("terminated", LIVE, TERMINATED),
)


def container_uri(container: Container) -> str:
    return f"/api/app/v1/{container.organization.name}/container/{container.uuid}/"


def container_event(*, container_id: int, action: str = "update") -> None:
    """Record the container's current state as a Docker Cloud event (parent: its node)."""
    container = (
        Container.objects.select_related("organization", "node").filter(pk=container_id).first()
    )
    if container is None:
        return
    org = container.organization
    platform_event_record(
        organization=org,
        type="container",
        action=action,
        state=container.state,
        resource_uri=container_uri(container),
        object_uuid=container.uuid,
        parents=[node_uri(org.name, container.node.uuid)],
        node=container.node,
    )


def container_record(*, actor: Actor, container: Container) -> None:
    """A new container's audit row and `create` event (it was saved Starting)."""
    audit_record(
        actor=actor,
        action="container.run",
        organization=container.organization,
        obj=container,
        data={"image": container.image, "node": str(container.node.uuid)},
    )
    container_event(container_id=container.pk, action="create")


def container_move(
    *, container: Container, name: str, actor: Actor | None = None, verb: str = "", **fields
) -> bool:
    """The transition `name`: True if this call made it. With `verb` (a user's request), a
    refusal is a 400 naming the states it needs."""
    transition = CONTAINER[name]
    with transaction.atomic():
        if not apply(Container, container.pk, transition, **fields):
            if verb:
                current = current_state(Container, container.pk)
                allowed = " or ".join(transition.sources)
                raise refused(
                    f"Cannot {verb} a container in state {current}: it must be {allowed}."
                )
            return False
        container.refresh_from_db()
        if transition.audit and actor is not None:
            audit_record(
                actor=actor,
                action=transition.audit,
                organization=container.organization,
                obj=container,
            )
        action = "delete" if transition.target == TERMINATED else "update"
        container_event(container_id=container.pk, action=action)
        return True


def container_set(*, container: Container, **fields) -> None:
    """Fields that are not the state (the daemon's id, the node it runs on now)."""
    Container.objects.filter(pk=container.pk).update(**fields)
    for key, value in fields.items():
        setattr(container, key, value)


def now():
    return timezone.now()
