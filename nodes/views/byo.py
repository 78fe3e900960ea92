"""The node list. Bringing nodes in (install commands, installs over SSH) is the agent API's:
its panel on this page comes from `agentapi.templatetags.byo`, its pages from agentapi.pages."""

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse

from accounts.permissions import Access
from accounts.views.base import org_view, render_org

from .. import selectors

PAGE_SIZE = 50  # a fleet of 10,000 is 200 pages, not one page of 4 MB


def list_page(request: HttpRequest, access: Access, extra: dict | None = None) -> HttpResponse:
    """The node list, newest first, a page at a time; `extra` adds to its context (the
    install-over-SSH form with errors)."""
    org = access.organization
    nodes = selectors.nodes_list(organization=org).select_related("node_cluster")
    page = Paginator(nodes, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"nodes": page, "page": page}
    return render_org(request, "nodes/list.html", access, context | (extra or {}))


@org_view(read="view")
def nodes_list(request, access):
    return list_page(request, access)
