from django.urls import path

from nodes.api_urls import unlisted

from . import pages, views
from .api import TokenViewSet

app_name = "agentapi"

urlpatterns = [
    path("install/agent.pyz", views.agent_artifact, name="agent-pyz"),
    path("install/<str:token>", views.install_script, name="install"),
    path("api/agent/v1/register/", views.register, name="register"),
    # Docker Cloud's install commands; the namespaced copy is left out of the schema.
    path("api/infra/v1/token/", TokenViewSet.as_view({"post": "create"})),
    path("api/infra/v1/<str:ns>/token/", unlisted(TokenViewSet).as_view({"post": "create"})),
    # Portal pages that bring nodes in (POST-only where they change something).
    path("orgs/<str:ns>/nodes/token/", pages.token_create, name="token"),
    path("orgs/<str:ns>/nodes/token/<uuid:uuid>/", pages.token_status, name="token_status"),
    path("orgs/<str:ns>/byo-ssh/", pages.byo_ssh_create, name="byo_ssh_create"),
    path("orgs/<str:ns>/byo-ssh/<uuid:uuid>/", pages.byo_ssh_detail, name="byo_ssh"),
]
