"""The node list. Bringing nodes in (install commands, installs over SSH) is the agent API's:
its panel on this page comes from `agentapi.templatetags.byo`, its pages from agentapi.pages."""

from django.http import HttpRequest, HttpResponse

from accounts.permissions import Access
from accounts.views.base import org_view, render_org

from .. import selectors


def list_page(request: HttpRequest, access: Access, extra: dict | None = None) -> HttpResponse:
    """The node list; `extra` adds to its context (the install-over-SSH form with errors)."""
    org = access.organization
    context = {"nodes": selectors.nodes_list(organization=org).select_related("node_cluster")}
    return render_org(request, "nodes/list.html", access, context | (extra or {}))


@org_view(read="view")
def nodes_list(request, access):
    return list_page(request, access)
