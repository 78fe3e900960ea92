"""A node page's overlay part, which belongs to the mesh: its place in the organization's
swarm (status, role, the subnet, and why it cannot take part when it cannot). Templates
compose the apps, so nodes imports nothing here.

    {% load mesh %}{% node_overlay node %}   on a node's page (its context: org)
"""

from django import template
from django.conf import settings

from .. import selectors

register = template.Library()


@register.inclusion_tag("overlay/_node_overlay.html", takes_context=True)
def node_overlay(context, node) -> dict:
    org = context["org"]
    return {
        "overlay": selectors.overlay_get(organization=org),
        "member": selectors.member_get(organization=org, node=node),
        "interval": settings.DC_OVERLAY_RECONCILE_INTERVAL,
    }
