"""Portal URLs (app_name "accounts"). Unsafe actions are POST-only URLs ending in a verb."""

from django.contrib.auth import views as auth_views
from django.urls import include, path, reverse_lazy

from .views import auth, invitations, orgadmin, orgs, teams, user

app_name = "accounts"

password_urls = [
    path(
        "change/",
        auth.PasswordChangeView.as_view(success_url=reverse_lazy("accounts:password_change_done")),
        name="password_change",
    ),
    path("change/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path(
        "reset/",
        auth_views.PasswordResetView.as_view(
            success_url=reverse_lazy("accounts:password_reset_done")
        ),
        name="password_reset",
    ),
    path("reset/done/", auth_views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path(
        "reset/<uidb64>/<token>/",
        auth.PasswordResetConfirmView.as_view(
            success_url=reverse_lazy("accounts:password_reset_complete")
        ),
        name="password_reset_confirm",
    ),
    path(
        "reset/complete/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
]

org_urls = [
    path("", orgs.organization_detail, name="org"),
    path("members/", orgs.members, name="members"),
    path("members/<str:username>/role/", orgs.member_role, name="member_role"),
    path("members/<str:username>/remove/", orgs.member_remove, name="member_remove"),
    path("teams/", teams.teams, name="teams"),
    path("teams/<uuid:uuid>/", teams.team_detail, name="team"),
    path("teams/<uuid:uuid>/delete/", teams.team_delete, name="team_delete"),
    path("invitations/", invitations.invitations, name="invitations"),
    path(
        "invitations/<uuid:uuid>/revoke/",
        invitations.invitation_revoke,
        name="invitation_revoke",
    ),
    path("audit/", orgadmin.audit, name="audit"),
    path("service-accounts/", orgadmin.service_accounts, name="service_accounts"),
    path(
        "service-accounts/<uuid:uuid>/",
        orgadmin.service_account_detail,
        name="service_account",
    ),
    path(
        "service-accounts/<uuid:uuid>/delete/",
        orgadmin.service_account_delete,
        name="service_account_delete",
    ),
    path(
        "service-accounts/<uuid:uuid>/apikeys/",
        orgadmin.service_account_key_create,
        name="service_account_key_create",
    ),
    path(
        "service-accounts/<uuid:uuid>/apikeys/<uuid:key_uuid>/revoke/",
        orgadmin.service_account_key_revoke,
        name="service_account_key_revoke",
    ),
]

urlpatterns = [
    path("", orgs.dashboard, name="dashboard"),
    path("signup/", auth.signup, name="signup"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth.LogoutView.as_view(), name="logout"),
    path("password/", include(password_urls)),
    # "new" must stay a reserved organization name, or this shadows /orgs/new/.
    path("orgs/new/", orgs.organization_create, name="org_new"),
    path("orgs/<str:ns>/", include(org_urls)),
    path(
        "invitations/accept/<str:token>/", invitations.invitation_accept, name="invitation_accept"
    ),
    path("settings/apikeys/", user.apikeys, name="apikeys"),
    path("settings/apikeys/<uuid:uuid>/revoke/", user.apikey_revoke, name="apikey_revoke"),
    path("settings/sshkeys/", user.sshkeys, name="sshkeys"),
    path("settings/sshkeys/<uuid:uuid>/delete/", user.sshkey_delete, name="sshkey_delete"),
]
