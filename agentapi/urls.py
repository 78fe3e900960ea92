from django.urls import path

from nodes.api_urls import unlisted

from . import views
from .api import TokenViewSet

TOKEN = {"post": "create"}

app_name = "agentapi"

urlpatterns = [
    path("install/agent.pyz", views.agent_artifact, name="agent-pyz"),
    path("install/<str:token>", views.install_script, name="install"),
    path("api/agent/v1/register/", views.register, name="register"),
    # Docker Cloud's install commands; the namespaced copy is left out of the schema.
    path("api/infra/v1/token/", TokenViewSet.as_view(TOKEN)),
    path("api/infra/v1/<str:ns>/token/", unlisted(TokenViewSet).as_view(TOKEN)),
]
