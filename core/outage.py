"""The database unreachable: 503 with a Retry-After, in the API's error envelope under /api/
and as a page in the portal, never a 500 or a traceback. `/healthz` says which part is down."""

import logging
import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string

logger = logging.getLogger(__name__)

RETRY_AFTER = 10  # seconds
OUTAGE = (OperationalError, InterfaceError)


def outage_response(request: HttpRequest) -> HttpResponse:
    response: HttpResponse
    if request.path.startswith("/api/"):
        response = JsonResponse(
            {"error": "The service is unavailable (its database cannot be reached). Retry later."},
            status=503,
        )
    else:
        # No request context: its processors would ask the database again.
        response = HttpResponse(render_to_string("503.html"), status=503)
    response["Retry-After"] = str(RETRY_AFTER)
    return response


class DatabaseOutageMiddleware:
    """A view's database error (with DEBUG on too, where Django would show a traceback)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        if isinstance(exc, OUTAGE):
            logger.error("database unreachable: %s %s: %s", request.method, request.path, exc)
            return outage_response(request)
        return None


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: a database error raised outside a view (in a middleware) is an outage too."""
    if isinstance(sys.exc_info()[1], OUTAGE):
        return outage_response(request)
    if request.path.startswith("/api/"):
        return JsonResponse({"error": "Internal server error."}, status=500)
    return HttpResponse(render_to_string("500.html"), status=500)
