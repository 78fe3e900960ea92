"""Bad input gets a clear 400 with field messages, and nothing is half-written."""

import pytest

from accounts.models import AuditEntry, Membership, Organization, Team

pytestmark = pytest.mark.django_db


def _counts():
    return (
        Organization.objects.count(),
        Membership.objects.count(),
        Team.objects.count(),
        AuditEntry.objects.count(),
    )


def test_malformed_json_is_a_400(owner):
    before = _counts()
    response = owner.client().generic(
        "POST", "/api/v1/orgs/", '{"name": "x",', content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["error"].startswith("Malformed JSON")
    assert _counts() == before


def test_json_without_content_type_is_parsed(owner):
    response = owner.client().generic(
        "POST", "/api/v1/orgs/", '{"name": "initech"}', content_type=""
    )
    assert response.status_code == 201


def test_unknown_fields_are_named(owner):
    before = _counts()
    response = owner.client().post(
        "/api/v1/orgs/", {"name": "initech", "plan": "gold"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["fields"] == {"plan": ["Unknown field."]}
    assert _counts() == before


def test_non_object_body_is_refused(owner):
    response = owner.client().post("/api/v1/orgs/", ["initech"], format="json")
    assert response.status_code == 400
    assert "Expected a JSON object." in response.json()["error"]


@pytest.mark.parametrize(
    "name, message",
    [
        ("x" * 31, "no more than 30"),
        ("Bad Name", "lowercase"),
        ("nodecluster", "reserved"),
        ("events", "reserved"),
        ("acme", "already taken"),
        ("carol", "already taken"),  # a user's personal namespace
    ],
)
def test_namespace_rules(owner, outsider, name, message):
    before = _counts()
    response = owner.client().post("/api/v1/orgs/", {"name": name}, format="json")
    assert response.status_code == 400
    assert any(message in text for text in response.json()["fields"]["name"])
    assert message in response.json()["error"]
    assert _counts() == before


def test_team_name_clash_and_bad_permission(owner, readonly_member):
    client = owner.client()
    response = client.post("/api/v1/orgs/acme/teams/", {"name": "viewers"}, format="json")
    assert response.status_code == 400 and "already exists" in response.json()["fields"]["name"][0]
    response = client.post(
        "/api/v1/orgs/acme/teams/", {"name": "new", "permission": "root"}, format="json"
    )
    assert response.status_code == 400 and "permission" in response.json()["fields"]
    assert not Team.objects.filter(name="new").exists()


def test_failed_team_members_leave_no_team_behind(owner):
    before = _counts()
    response = owner.client().post(
        "/api/v1/orgs/acme/teams/", {"name": "ops", "members": ["nobody"]}, format="json"
    )
    assert response.status_code == 400
    assert _counts() == before


@pytest.mark.parametrize(
    "key, message",
    [
        ("ssh-rsa notbase64!!", "Paste one OpenSSH public key line"),
        ("ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQ", "Not a valid SSH public key"),
        # A key type the crypto library does not know was a server error.
        ("ssh-foo AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl", "Not a"),
    ],
)
def test_invalid_ssh_key_is_explained(owner, key, message):
    response = owner.client().post("/api/v1/user/sshkeys/", {"public_key": key}, format="json")
    assert response.status_code == 400
    assert message in response.json()["fields"]["public_key"][0]
    assert not owner.user.ssh_keys.exists()


def test_bad_invitation_email(owner):
    response = owner.client().post(
        "/api/v1/orgs/acme/invitations/", {"email": "not-an-email"}, format="json"
    )
    assert response.status_code == 400 and "email" in response.json()["fields"]
