"""Organizations, members, teams and invitations through the API."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import AuditEntry, Invitation, Organization
from tests.conftest import make_key, make_user

pytestmark = pytest.mark.django_db


@pytest.mark.smoke
def test_signup_gives_a_personal_organization(db):
    user = make_user("erin")
    org = Organization.objects.get(name="erin")
    assert org.personal_for == user
    assert org.memberships.get(user=user).role == "owner"


@pytest.mark.smoke
def test_create_organization_makes_the_caller_owner_and_audits(owner):
    response = owner.client().post(
        "/api/v1/orgs/", {"name": "initech", "display_name": "Initech"}, format="json"
    )
    assert response.status_code == 201
    body = response.json()
    assert body["name"] == "initech" and body["resource_uri"] == "/api/v1/orgs/initech/"
    members = owner.client().get("/api/v1/orgs/initech/members/").json()["objects"]
    assert [(m["username"], m["role"]) for m in members] == [("alice", "owner")]
    audit = owner.client().get("/api/v1/orgs/initech/audit/").json()["objects"]
    assert audit[0]["action"] == "organization.create" and audit[0]["actor"] == "alice"
    assert audit[0]["ip"] == "127.0.0.1"


def test_last_owner_cannot_leave_or_be_demoted(owner):
    client = owner.client()
    response = client.patch("/api/v1/orgs/acme/members/alice/", {"role": "admin"}, format="json")
    assert response.status_code == 400
    assert "last owner" in response.json()["fields"]["role"][0]
    response = client.delete("/api/v1/orgs/acme/members/alice/")
    assert response.status_code == 400
    assert owner.org.memberships.get(user=owner.user).role == "owner"


def test_member_can_leave_on_their_own(owner, readonly_member):
    assert readonly_member.client().delete("/api/v1/orgs/acme/members/bob/").status_code == 204
    assert not owner.org.memberships.filter(user=readonly_member.user).exists()
    assert not owner.org.teams.get(name="viewers").members.exists()


def test_only_an_owner_grants_ownership(owner):
    client = owner.client()
    make_user("frank")
    client.post("/api/v1/orgs/acme/members/", {"username": "frank", "role": "admin"}, format="json")
    make_user("gina")
    client.post("/api/v1/orgs/acme/members/", {"username": "gina"}, format="json")
    frank = owner.org.memberships.get(user__username="frank").user
    admin_client = type(owner)(user=frank, org=owner.org, key=make_key(frank)).client()
    response = admin_client.patch(
        "/api/v1/orgs/acme/members/gina/", {"role": "owner"}, format="json"
    )
    assert response.status_code == 400
    response = client.patch("/api/v1/orgs/acme/members/gina/", {"role": "owner"}, format="json")
    assert response.status_code == 200 and response.json()["role"] == "owner"


def test_team_members_must_belong_to_the_organization(owner, outsider):
    response = owner.client().post(
        "/api/v1/orgs/acme/teams/",
        {"name": "ops", "permission": "write", "members": ["alice", "carol"]},
        format="json",
    )
    assert response.status_code == 400
    assert "carol" in response.json()["fields"]["members"][0]


def test_team_crud(owner):
    client = owner.client()
    created = client.post(
        "/api/v1/orgs/acme/teams/", {"name": "ops", "members": ["alice"]}, format="json"
    ).json()
    assert created["permission"] == "read" and created["members"] == ["alice"]
    uri = created["resource_uri"]
    updated = client.patch(uri, {"permission": "write", "members": []}, format="json").json()
    assert updated["permission"] == "write" and updated["members"] == []
    assert client.delete(uri).status_code == 204
    assert client.get(uri).status_code == 404


def test_invitation_is_single_use(owner, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = owner.client().post(
            "/api/v1/orgs/acme/invitations/",
            {"email": "hal@example.com", "role": "member"},
            format="json",
        )
    assert response.status_code == 201
    token = response.json()["token"]
    assert len(mailoutbox) == 1 and token in mailoutbox[0].body
    assert not Invitation.objects.filter(token_digest__contains=token).exists()
    assert token not in str(list(Invitation.objects.values()))
    hal = make_user("hal")
    hal_client = type(owner)(user=hal, org=owner.org, key=make_key(hal)).client()
    accepted = hal_client.post("/api/v1/invitations/accept/", {"token": token}, format="json")
    assert accepted.status_code == 200 and accepted.json()["name"] == "acme"
    assert owner.org.memberships.get(user=hal).role == "member"
    ivan = make_user("ivan")
    ivan_client = type(owner)(user=ivan, org=owner.org, key=make_key(ivan)).client()
    again = ivan_client.post("/api/v1/invitations/accept/", {"token": token}, format="json")
    assert again.status_code == 400
    assert "already been used" in again.json()["error"]
    assert not owner.org.memberships.filter(user=ivan).exists()


def test_invitation_expires(owner, time_machine):
    token = (
        owner.client()
        .post("/api/v1/orgs/acme/invitations/", {"email": "hal@example.com"}, format="json")
        .json()["token"]
    )
    time_machine.move_to(timezone.now() + timedelta(days=8))
    hal = make_user("hal")
    client = type(owner)(user=hal, org=owner.org, key=make_key(hal)).client()
    response = client.post("/api/v1/invitations/accept/", {"token": token}, format="json")
    assert response.status_code == 400 and "expired" in response.json()["error"]
    assert not owner.org.memberships.filter(user=hal).exists()


def test_revoked_invitation_cannot_be_accepted(owner):
    created = (
        owner.client()
        .post("/api/v1/orgs/acme/invitations/", {"email": "hal@example.com"}, format="json")
        .json()
    )
    assert owner.client().delete(created["resource_uri"]).status_code == 204
    hal = make_user("hal")
    client = type(owner)(user=hal, org=owner.org, key=make_key(hal)).client()
    response = client.post(
        "/api/v1/invitations/accept/", {"token": created["token"]}, format="json"
    )
    assert response.status_code == 400 and "revoked" in response.json()["error"]


def test_every_write_is_audited(owner):
    client = owner.client()
    client.post("/api/v1/orgs/acme/teams/", {"name": "ops"}, format="json")
    client.post("/api/v1/orgs/acme/invitations/", {"email": "x@example.com"}, format="json")
    actions = set(
        AuditEntry.objects.filter(organization=owner.org).values_list("action", flat=True)
    )
    assert {"organization.create", "team.create", "invitation.create"} <= actions
    assert not AuditEntry.objects.filter(data__icontains="dci_").exists()
