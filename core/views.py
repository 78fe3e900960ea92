"""Answers shared by every app."""

from django.http import HttpResponsePermanentRedirect, JsonResponse
from django.templatetags.static import static
from django.urls import Resolver404, resolve
from django.views.decorators.csrf import csrf_exempt


@csrf_exempt  # it changes nothing: a POST here is a 404 like any other, not a CSRF page
def api_not_found(request, path: str = ""):
    """Any /api/ path no route takes (a malformed id included): the API's own 404 body, not
    the HTML page of the portal. A GET that only lacks its trailing slash is redirected, as
    Django's APPEND_SLASH would (this route matches first, so that never runs for /api/)."""
    if not request.path.endswith("/") and request.method in ("GET", "HEAD"):
        try:
            match = resolve(request.path + "/")
        except Resolver404:
            match = None
        if match is not None and match.func is not api_not_found:
            query = request.META.get("QUERY_STRING", "")
            return HttpResponsePermanentRedirect(
                request.path + "/" + (f"?{query}" if query else "")
            )
    hint = "" if request.path.endswith("/") else " API paths end with a slash."
    return JsonResponse({"error": f"Not found.{hint}"}, status=404)


def favicon(request):
    """/favicon.ico, which browsers ask for where no page names an icon (an API answer opened
    in a tab): the portal's icon, so no page of the site logs a 404 for it."""
    return HttpResponsePermanentRedirect(static("favicon.svg"))
