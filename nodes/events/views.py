"""The portal's event search page (live on its first page)."""

from urllib.parse import urlencode

from django.conf import settings
from django.core.paginator import Paginator
from django.db.models import QuerySet
from rest_framework.exceptions import ValidationError

from accounts.views.base import org_view, render_org

from .. import selectors as node_selectors
from ..models import DockerEvent
from . import selectors
from .api import search_filters
from .render import describe, stored_payload

PAGE_SIZE = 50
FILTERS = ("node", "type", "action", "since", "until")


def _error_text(exc: ValidationError) -> str:
    """One line for the page from search_filters' error, which names the field at fault."""
    detail = exc.detail
    if not isinstance(detail, dict):
        return " ".join(map(str, detail))
    return "; ".join(f"{k}: {' '.join(map(str, v))}" for k, v in detail.items())


@org_view(read="view")
def events(request, access):
    org = access.organization
    given = {name: request.GET.get(name, "").strip() for name in FILTERS}
    error = ""
    try:
        filters = search_filters(given)
    except ValidationError as exc:
        error = _error_text(exc)
        filters = {}
    found: QuerySet[DockerEvent] | list[DockerEvent] = (
        selectors.events_search(organization=org, **filters) if not error else []
    )
    page = Paginator(found, PAGE_SIZE).get_page(request.GET.get("page"))
    payloads = [stored_payload(event) for event in page]
    context = {
        "rows": [(p, p["time"][:19].replace("T", " "), describe(p)) for p in payloads],
        "page": page,
        "page_size": PAGE_SIZE,
        "nodes": node_selectors.nodes_list(organization=org),
        "filters": given,
        "query": urlencode({k: v for k, v in given.items() if v}),
        "error": error,
        # Live rows only make sense on the newest page of an open-ended search.
        "live": page.number == 1 and not given["until"] and not error,
        "last_id": selectors.last_event_id(organization=org, node=None),
        "retention_days": settings.DC_EVENT_RETENTION_DAYS,
    }
    return render_org(request, "nodes/events.html", access, context)
