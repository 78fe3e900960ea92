"""The node's containers table with each container's verbs: the daemon's own through
`containers.daemon`, the control plane's through their pages. Templates compose the apps, so
nodes imports nothing here.

    {% load node_containers %}{% node_containers_table node containers %}
"""

from django import template

from accounts.permissions import can

from .. import selectors
from ..daemon import DOCKER_ID

register = template.Library()


@register.inclusion_tag("containers/_node_containers.html", takes_context=True)
def node_containers_table(context, node, containers: list[dict]) -> dict:
    access = context["access"]
    ids = [c["full_id"] for c in containers if DOCKER_ID.match(c["full_id"])]
    managed = selectors.managed_on_node(node=node, docker_ids=ids)
    # An id that is not a docker id (the node's daemon says what it likes) gets no links.
    rows = [
        c | {"managed": managed.get(c["full_id"]), "ours": c["full_id"] in ids} for c in containers
    ]
    return {
        "org": context["org"],
        "node": node,
        "rows": rows,
        "may": {verb: can(access, verb, node) for verb in ("change", "delete")},
        "deployed": node.state == "Deployed",
        "csrf_token": context.get("csrf_token"),
    }
