"""Event search: the portal page (app_name "events") and `/api/v1/orgs/<ns>/events/`."""

from django.urls import path

from . import views
from .api import EventViewSet

app_name = "events"

urlpatterns = [
    path("orgs/<str:ns>/events/", views.events, name="search"),
    path("api/v1/orgs/<str:ns>/events/", EventViewSet.as_view({"get": "list"}), name="api"),
]
