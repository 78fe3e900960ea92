"""`/api/v1/orgs/<ns>/byo-ssh/[<uuid>/]` (included under `api/v1/`)."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from .api import SshInstallViewSet

org = SimpleRouter(use_regex_path=False)
org.register("byo-ssh", SshInstallViewSet, basename="byo-ssh")

urlpatterns = [
    path("orgs/<str:ns>/", include(org.urls)),
]
