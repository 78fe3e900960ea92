"""`{% fleet_overview org %}`: the organization's fleet at a glance (nodes.fleet), for the
organization's page and the dashboard (accounts' templates load it; accounts imports nothing
of nodes)."""

from django import template
from django.conf import settings

from ..fleet import fleet_summary
from ..models import NodeState

register = template.Library()


@register.inclusion_tag("nodes/_fleet_overview.html")
def fleet_overview(org, can_change: bool = False):
    fleet = fleet_summary(organization=org)
    return {
        "org": org,
        "fleet": fleet,
        "node_states": [(s, fleet.nodes.get(s, 0)) for s in NodeState.values],
        "can_change": can_change,
        "skew_max": settings.DC_CLOCK_SKEW_MAX,
    }
