from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from core.health import healthz
from core.views import api_not_found, favicon

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("favicon.ico", favicon),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("", include("nodes.events.urls")),
    path("api/v1/", include("accounts.api_urls")),
    path("api/v1/", include("agentapi.api_urls")),
    path("api/v1/", include("maintenance.api_urls")),
    path("", include("agentapi.urls")),
    # Before nodes: /api/infra/v1/<ns>/... must not take the catalog's un-namespaced paths.
    path("", include("providers.api_urls")),
    path("", include("nodes.api_urls")),
    path("", include("overlay.api_urls")),
    path("", include("containers.api_urls")),
    path("", include("nodes.urls")),
    path("", include("containers.urls")),
    path("", include("maintenance.urls")),
    path("", include("providers.urls")),
    path("", include("accounts.urls")),
    # Last: an /api/ path no route above took answers JSON (Django's 404 page is HTML).
    re_path(r"^api/(?P<path>[\s\S]*)$", api_not_found),
]

handler500 = "core.outage.server_error"
