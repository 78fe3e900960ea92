"""Portal URLs (app_name "providers"). Unsafe actions are POST-only URLs ending in a verb."""

from django.urls import path

from . import views

app_name = "providers"

urlpatterns = [
    path("credentials/", views.credentials_home, name="credentials_home"),
    path("orgs/<str:ns>/credentials/", views.credentials, name="credentials"),
    path(
        "orgs/<str:ns>/credentials/new/<str:provider>/", views.credential_new, name="credential_new"
    ),
    path("orgs/<str:ns>/credentials/<uuid:uuid>/", views.credential_detail, name="credential"),
    path(
        "orgs/<str:ns>/credentials/<uuid:uuid>/grants/",
        views.credential_grants,
        name="credential_grants",
    ),
    path(
        "orgs/<str:ns>/credentials/<uuid:uuid>/delete/",
        views.credential_delete,
        name="credential_delete",
    ),
]
