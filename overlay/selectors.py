"""Reads on the overlay: tenant-scoped for the API and pages, by organization for the tasks."""

from django.db.models import QuerySet

from accounts.models import Organization
from nodes.models import Node, NodeState

from .models import OrgOverlay, OverlayMember

ENDED = (NodeState.TERMINATING, NodeState.TERMINATED)


def overlay_get(*, organization: Organization) -> OrgOverlay | None:
    return OrgOverlay.objects.filter(organization=organization).first()


def members_list(*, organization: Organization) -> QuerySet[OverlayMember]:
    return (
        OverlayMember.objects.filter(overlay__organization=organization)
        .exclude(status="Left")
        .select_related("node")
        .order_by("node__created")
    )


def member_get(*, organization: Organization, node: Node) -> OverlayMember | None:
    return OverlayMember.objects.filter(overlay__organization=organization, node=node).first()


def member_for_node(*, node: Node) -> OverlayMember | None:
    return OverlayMember.objects.filter(node=node).select_related("overlay").first()


def deployed_nodes(*, organization: Organization) -> list[Node]:
    """The nodes the swarm should hold, oldest first (the first starts it)."""
    return list(
        Node.objects.filter(organization=organization, state=NodeState.DEPLOYED)
        .exclude(public_ip=None)
        .select_related("organization")
        .order_by("created", "pk")
    )


def live_swarm_node_ids(*, overlay: OrgOverlay) -> set[str]:
    """Swarm ids of members whose node is only away for now (Unreachable, Upgrading): kept."""
    return set(
        overlay.members.exclude(node__state__in=ENDED)
        .exclude(swarm_node_id="")
        .values_list("swarm_node_id", flat=True)
    )


def organizations_with_nodes() -> list[int]:
    """Organizations that have a Deployed node or an overlay to tidy: the beat pass's list."""
    with_nodes = Node.objects.filter(state=NodeState.DEPLOYED).values_list(
        "organization_id", flat=True
    )
    with_swarm = OrgOverlay.objects.exclude(swarm_id="").values_list("organization_id", flat=True)
    return sorted(set(with_nodes) | set(with_swarm))


def organization_by_id(*, organization_id: int) -> Organization | None:
    return Organization.objects.filter(pk=organization_id).first()


def organization_id_of_node(*, node_id: int) -> int | None:
    return Node.objects.filter(pk=node_id).values_list("organization_id", flat=True).first()
