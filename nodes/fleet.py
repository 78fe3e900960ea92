"""The fleet at a glance, for an organization's dashboard: counts by state, work in progress,
recent failures and the nodes that need a look. A handful of queries, whatever the fleet's size."""

from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import Count, Q

from accounts.models import Organization

from .models import Action, ActionState, Node, NodeCluster, NodeState

SHOWN = 5


@dataclass
class Fleet:
    nodes: dict[str, int] = field(default_factory=dict)
    clusters: dict[str, int] = field(default_factory=dict)
    in_progress: list[Action] = field(default_factory=list)
    in_progress_count: int = 0
    failures: list[Action] = field(default_factory=list)
    attention: list[Node] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """Nothing yet but terminated leftovers: the page leads to the first node."""
        live = {s: n for s, n in self.nodes.items() if s != NodeState.TERMINATED}
        return not live and not any(n for s, n in self.clusters.items() if s != "Terminated")


def fleet_summary(*, organization: Organization) -> Fleet:
    nodes = Node.objects.filter(organization=organization)
    actions = Action.objects.filter(organization=organization)
    fleet = Fleet(
        nodes=dict(nodes.values_list("state").annotate(n=Count("id")).order_by()),
        clusters=dict(
            NodeCluster.objects.filter(organization=organization)
            .values_list("state")
            .annotate(n=Count("id"))
            .order_by()
        ),
    )
    running = actions.filter(state__in=(ActionState.PENDING, ActionState.IN_PROGRESS))
    fleet.in_progress = list(running.order_by("-created")[:SHOWN])
    fleet.in_progress_count = running.count()
    fleet.failures = list(actions.filter(state=ActionState.FAILED).order_by("-end_date")[:SHOWN])
    skewed = Q(clock_skew__gt=settings.DC_CLOCK_SKEW_MAX) | Q(
        clock_skew__lt=-settings.DC_CLOCK_SKEW_MAX
    )
    fleet.attention = list(
        nodes.filter(
            Q(state=NodeState.UNREACHABLE) | (Q(state=NodeState.DEPLOYED) & skewed)
        ).order_by("-last_seen")[: SHOWN * 2]
    )
    return fleet
