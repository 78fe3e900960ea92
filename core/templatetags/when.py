"""`{{ value|when }}`: a moment as `<time>`, in UTC on the server and in the reader's timezone
once static/js/portal.js has run, with the UTC time kept on hover. A builtin (settings), so
every template shows times one way without loading anything.

    {{ node.last_seen|when|default:"never" }}    2026-11-29 23:46:14 UTC (None gives "")
    {{ key.created|when:"date" }}                2026-11-29
    {{ invitation.expires_at|when:"minute" }}    2026-11-29 23:46 UTC
"""

from datetime import UTC, datetime

from django import template
from django.utils.html import format_html

register = template.Library()

FORMATS = {"second": "%Y-%m-%d %H:%M:%S", "minute": "%Y-%m-%d %H:%M", "date": "%Y-%m-%d"}


@register.filter(is_safe=True)
def when(value, precision: str = "second"):
    if isinstance(value, str):  # an ISO 8601 time from a payload (the events pages)
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if not isinstance(value, datetime):
        return ""
    moment = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    precision = precision if precision in FORMATS else "second"
    shown = moment.strftime(FORMATS[precision]) + ("" if precision == "date" else " UTC")
    return format_html(
        '<time datetime="{}" title="{} UTC" data-precision="{}">{}</time>',
        moment.isoformat().replace("+00:00", "Z"),
        moment.strftime(FORMATS["second"]),
        precision,
        shown,
    )
