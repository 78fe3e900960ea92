"""The node list. Bringing nodes in (install commands, installs over SSH) is the agent API's:
its panel on this page comes from `agentapi.templatetags.byo`, its pages from agentapi.pages."""

import uuid

from django import forms
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse

from accounts.permissions import Access
from accounts.views.base import org_view, render_org

from .. import selectors
from ..models import NodeState

PAGE_SIZE = 50  # a fleet of 10,000 is 200 pages, not one page of 4 MB
CLUSTERS_SHOWN = 500  # the cluster filter's choices; a larger fleet searches instead


class NodeFilterForm(forms.Form):
    """The node list's GET parameters. A field with a bad value is left out (the list is not
    narrowed by it) and its error is shown beside it: a bad link never costs a 500."""

    q = forms.CharField(
        label="Search",
        required=False,
        max_length=100,
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "name, host, IP, uuid"}),
    )
    state = forms.ChoiceField(
        label="State", required=False, choices=[("", "Any state"), *NodeState.choices]
    )
    cluster = forms.ChoiceField(label="Cluster", required=False)
    tag = forms.CharField(
        label="Tag",
        required=False,
        max_length=100,
        widget=forms.TextInput(attrs={"list": "known-tags"}),
    )
    connection = forms.ChoiceField(
        label="Connection",
        required=False,
        choices=[("", "Any"), ("direct", "Direct"), ("tunnel", "Tunnel"), ("unknown", "Unknown")],
    )
    sort = forms.ChoiceField(
        label="Sort by",
        required=False,
        choices=[
            ("created", "Created"),
            ("name", "Name"),
            ("state", "State"),
            ("last_seen", "Last seen"),
        ],
    )
    order = forms.ChoiceField(
        label="Order", required=False, choices=[("desc", "Descending"), ("asc", "Ascending")]
    )

    def __init__(self, data, *, clusters):
        super().__init__(data)
        cluster = self.fields["cluster"]
        assert isinstance(cluster, forms.ChoiceField)
        cluster.choices = [
            ("", "Any cluster"),
            ("none", "Own hosts (no cluster)"),
            *((str(c.uuid), c.name) for c in clusters),
        ]
        cluster.error_messages["invalid_choice"] = "Not a cluster of this organization."
        self.full_clean()
        for name in list(self.errors):
            # the rest of the filters still apply; the bad one shows its error and is unset
            self.cleaned_data.pop(name, None)

    @property
    def active(self) -> bool:
        """Whether anything narrows the list (sorting does not)."""
        keys = ("q", "state", "cluster", "tag", "connection")
        return any(self.cleaned_data.get(key) for key in keys)

    def query(self) -> dict:
        """Keyword arguments for `selectors.nodes_filtered`."""
        data = self.cleaned_data
        connection = data.get("connection") or None
        return {
            "search": data.get("q", ""),
            "state": data.get("state", ""),
            "cluster": data.get("cluster", ""),
            "tag": data.get("tag", ""),
            "connection": "" if connection == "unknown" else connection,
            "sort": data.get("sort") or "created",
            "descending": data.get("order") != "asc",
        }


def list_page(request: HttpRequest, access: Access, extra: dict | None = None) -> HttpResponse:
    """The node list, newest first unless sorted otherwise, filtered by the GET parameters, a
    page at a time; `extra` adds to its context (the install-over-SSH form with errors)."""
    org = access.organization
    ours = selectors.clusters_list(organization=org).select_related(None)
    clusters = list(ours.only("uuid", "name", "tags")[:CLUSTERS_SHOWN])
    wanted = _uuid_or_none(request.GET.get("cluster", ""))
    if wanted and len(clusters) == CLUSTERS_SHOWN and wanted not in {c.uuid for c in clusters}:
        # a cluster past the menu's first ones, named in a link: still one of the choices
        clusters += list(ours.only("uuid", "name", "tags").filter(uuid=wanted))
    form = NodeFilterForm(request.GET, clusters=clusters)
    nodes = selectors.nodes_filtered(organization=org, **form.query())
    page = Paginator(nodes, PAGE_SIZE).get_page(request.GET.get("page"))
    tags = sorted({t["name"] for c in clusters for t in c.tags if isinstance(t, dict)})
    context = {"nodes": page, "page": page, "filters": form, "known_tags": tags}
    return render_org(request, "nodes/list.html", access, context | (extra or {}))


def _uuid_or_none(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


@org_view(read="view")
def nodes_list(request, access):
    return list_page(request, access)
