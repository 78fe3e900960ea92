"""Our own API under /api/v1/ (Docker Cloud never exposed these)."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from .api.orgs import (
    AuditViewSet,
    InvitationAcceptView,
    InvitationViewSet,
    MemberViewSet,
    OrganizationViewSet,
    ServiceAccountViewSet,
    TeamViewSet,
)
from .api.user import ApiKeyViewSet, MeViewSet, SshKeyViewSet

root = SimpleRouter(use_regex_path=False)
root.register("orgs", OrganizationViewSet, basename="org")
root.register("user/apikeys", ApiKeyViewSet, basename="apikey")
root.register("user/sshkeys", SshKeyViewSet, basename="sshkey")
root.register("invitations/accept", InvitationAcceptView, basename="invitation-accept")

org = SimpleRouter(use_regex_path=False)
org.register("members", MemberViewSet, basename="member")
org.register("teams", TeamViewSet, basename="team")
org.register("invitations", InvitationViewSet, basename="invitation")
org.register("audit", AuditViewSet, basename="audit")
org.register("service-accounts", ServiceAccountViewSet, basename="service-account")

urlpatterns = [
    # One object, not a list: a plain route to `retrieve`.
    path("user/", MeViewSet.as_view({"get": "retrieve"}), name="user-detail"),
    path("orgs/<str:ns>/", include(org.urls)),
    path("", include(root.urls)),
]
