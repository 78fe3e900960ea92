"""Tenant-scoped reads on containers."""

from django.db.models import Count, Q, QuerySet
from django.http import Http404

from accounts.models import Organization
from nodes.models import Node, NodeState

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
