from django.urls import path

from . import views

app_name = "maintenance"

urlpatterns = [
    path("orgs/<str:ns>/maintenance/", views.maintenance, name="settings"),
]
