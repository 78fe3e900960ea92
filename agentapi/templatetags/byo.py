"""The node pages' "bring your own" parts, which belong to the agent API: the node list's
install panel (recent installs over SSH, the install command button, the SSH form) and a
node's "installed over SSH" line. Templates compose the apps, so nodes imports nothing here.

    {% load byo %}{% byo_panel %}          on the node list (its context: org, can, ssh_form?)
    {% load byo %}{% node_installs node %} on a node's page
"""

from django import template

from .. import selectors
from ..pages import ByoSshForm

register = template.Library()
RECENT_INSTALLS = 10


@register.inclusion_tag("agentapi/_byo_panel.html", takes_context=True)
def byo_panel(context) -> dict:
    org = context["org"]
    return {
        "org": org,
        "can": context["can"],
        "installs": selectors.ssh_installs_list(organization=org)[:RECENT_INSTALLS],
        # The form of a POST that failed comes back with its errors.
        "ssh_form": context.get("ssh_form") or ByoSshForm(),
        "csrf_token": context.get("csrf_token"),
    }


@register.inclusion_tag("agentapi/_node_installs.html", takes_context=True)
def node_installs(context, node) -> dict:
    org = context["org"]
    return {
        "org": org,
        "installs": selectors.ssh_installs_for_node(organization=org, node_id=node.pk),
    }
