"""Tenant-scoped reads on containers."""

from django.db.models import Count, Q, QuerySet
from django.http import Http404

from accounts.models import Organization
from nodes.models import Action, DockerEvent, Node, NodeState

from .models import Container, ContainerState


def containers_list(*, organization: Organization) -> QuerySet[Container]:
    return (
        Container.objects.filter(organization=organization)
        .select_related("organization", "node", "node__organization")
        .order_by("-created", "-id")
    )


def container_get(*, organization: Organization, uuid) -> Container:
    container = containers_list(organization=organization).filter(uuid=uuid).first()
    if container is None:
        raise Http404
    return container


def container_by_id(*, container_id: int) -> Container | None:
    """For tasks, which receive ids: the row, or None if it is gone."""
    return (
        Container.objects.select_related("organization", "node", "node__organization")
        .filter(pk=container_id)
        .first()
    )


def container_name_taken(*, organization: Organization, name: str) -> bool:
    live = Container.objects.filter(organization=organization, name=name)
    return live.exclude(state=ContainerState.TERMINATED).exists()


def live_containers_on(*, node: Node) -> list[Container]:
    rows = Container.objects.filter(node=node).exclude(state=ContainerState.TERMINATED)
    return list(rows.select_related("organization", "node"))


def node_for_containers(*, organization: Organization, uuid) -> Node | None:
    """A node of the organization named in a request (None: not one of its nodes)."""
    return Node.objects.filter(organization=organization, uuid=uuid).first()


def nodes_by_load(*, organization: Organization) -> list[Node]:
    """The organization's Deployed nodes, the one with fewest live containers first."""
    live = ~Q(containers__state=ContainerState.TERMINATED)
    nodes = Node.objects.filter(organization=organization, state=NodeState.DEPLOYED)
    counted = nodes.annotate(load=Count("containers", filter=live))
    return list(counted.order_by("load", "created").select_related("organization"))


def daemon_events_after(*, last_id: int, label: str, limit: int = 1000) -> list[DockerEvent]:
    """Nodes' `die` and `start` events of containers the control plane runs (they carry
    `label`), oldest first, after the event `last_id`."""
    rows = DockerEvent.objects.filter(
        id__gt=last_id, type="container", action__in=("die", "start"), seq__isnull=False
    )
    return list(rows.filter(attributes__has_key=label).order_by("id")[:limit])


def last_event_id() -> int:
    return DockerEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0


def container_for_daemon(*, node_id: int, uuid, docker_id: str) -> Container | None:
    """The container a node's daemon speaks of: on that node, with that daemon id (a node
    cannot speak for another's containers, nor an old copy for the current one)."""
    return (
        Container.objects.select_related("organization", "node")
        .filter(node_id=node_id, uuid=uuid, docker_id=docker_id)
        .exclude(docker_id="")
        .first()
    )


def container_of_action(*, action: Action) -> Container | None:
    """The container an action is about, in the action's organization."""
    if action.object_uuid is None:
        return None
    rows = Container.objects.select_related("organization", "node")
    return rows.filter(organization_id=action.organization_id, uuid=action.object_uuid).first()


def managed_on_node(*, node: Node, docker_ids: list[str]) -> dict[str, Container]:
    """The control plane's own containers among `docker_ids` on `node` (its organization's),
    by daemon id: their verbs are the container pages', which keep their state."""
    rows = Container.objects.filter(
        organization_id=node.organization_id, node=node, docker_id__in=docker_ids
    ).exclude(docker_id="")
    return {c.docker_id: c for c in rows}
