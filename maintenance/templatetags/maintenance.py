"""Maintenance on the node pages (templates compose the apps; nodes imports nothing here).

{% load maintenance %}{% node_maintenance node %}   on a node's page
{% load maintenance %}{% node_clock node %}         in the node list's clock column
"""

from django import template

from .. import selectors

register = template.Library()
HISTORY = 10


@register.inclusion_tag("maintenance/_node_panel.html", takes_context=True)
def node_maintenance(context, node) -> dict:
    org = context["org"]
    row = selectors.settings_get(organization=org)
    return {
        "org": org,
        "node": node,
        "state": selectors.node_state(node=node),
        "effective": selectors.effective(row),
        "history": selectors.removals(organization=org, node=node)[:HISTORY],
    }


@register.simple_tag
def clock_flagged(nodes) -> frozenset[int]:
    """The ids of the listed nodes still skewed after a sync (one query for the page)."""
    return selectors.clock_flagged_ids(node_ids=[node.pk for node in nodes])


@register.inclusion_tag("maintenance/_node_clock.html")
def node_clock(node, flagged: frozenset[int] = frozenset()) -> dict:
    return {"node": node, "flagged": node.pk in flagged}
