from django.urls import path

from . import views

app_name = "agentapi"

urlpatterns = [
    path("install/agent.pyz", views.agent_artifact, name="agent-pyz"),
    path("install/<str:token>", views.install_script, name="install"),
    path("api/agent/v1/register/", views.register, name="register"),
]
