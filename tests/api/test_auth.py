"""API authentication: key schemes, passwords, revocation, expiry and scopes."""

import base64
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import services
from accounts.audit import Actor
from accounts.models import ApiKey
from tests.conftest import PASSWORD, make_key

pytestmark = pytest.mark.django_db


def _basic(user: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()


def _get(header: str, path: str = "/api/v1/orgs/"):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    return client.get(path)


@pytest.mark.smoke
def test_every_accepted_scheme_authenticates(owner):
    for header in (
        _basic("alice", owner.key),
        f"Token {owner.key}",
        f"Bearer {owner.key}",
        _basic("alice", PASSWORD),
    ):
        response = _get(header)
        assert response.status_code == 200, header.split()[0]
        assert "acme" in [o["name"] for o in response.json()["objects"]]


def test_bad_credentials_answer_401_with_an_error(owner):
    for header in (
        _basic("alice", "wrong password"),
        _basic("carol", owner.key),  # another user's name with alice's key
        f"Token {owner.key[:-2]}xx",
        "Basic !!!notbase64",
        "Digest whatever",
    ):
        response = _get(header)
        assert response.status_code == 401, header
        assert response.json()["error"]
        assert response["WWW-Authenticate"].startswith("Basic")


def test_key_is_stored_as_prefix_and_digest_only(owner):
    row = ApiKey.objects.get(user=owner.user)
    values = [str(v) for v in ApiKey.objects.filter(pk=row.pk).values().first().values()]
    assert owner.key not in values
    assert not any(owner.key[12:] in v for v in values)  # not even the secret part
    assert row.digest != owner.key and len(row.digest) == 64


def test_revoked_key_is_refused_at_once(owner):
    client = owner.client()
    assert client.get("/api/v1/orgs/").status_code == 200
    key = ApiKey.objects.get(user=owner.user)
    assert client.delete(f"/api/v1/user/apikeys/{key.uuid}/").status_code == 204
    assert client.get("/api/v1/orgs/").status_code == 401


def test_expired_key_is_refused(owner, time_machine):
    key = make_key(owner.user, expires_at=timezone.now() + timedelta(hours=1))
    assert owner.client(key).get("/api/v1/orgs/").status_code == 200
    time_machine.move_to(timezone.now() + timedelta(hours=2))
    assert owner.client(key).get("/api/v1/orgs/").status_code == 401


def test_last_used_is_recorded(owner):
    key = ApiKey.objects.get(user=owner.user)
    assert key.last_used is None
    owner.client().get("/api/v1/orgs/")
    key.refresh_from_db()
    assert key.last_used is not None


def test_read_only_key_cannot_write_even_for_an_owner(owner):
    key = make_key(owner.user, read_only=True)
    client = owner.client(key)
    assert client.get("/api/v1/orgs/acme/members/").status_code == 200
    assert client.post("/api/v1/orgs/acme/teams/", {"name": "x"}, format="json").status_code == 403
    assert client.post("/api/v1/orgs/", {"name": "newco"}, format="json").status_code == 403
    assert client.post("/api/v1/user/apikeys/", {"label": "x"}, format="json").status_code == 403
    assert not owner.org.teams.filter(name="x").exists()


def test_org_restricted_key_sees_only_that_organization(owner):
    key = make_key(owner.user, organization=owner.org)
    client = owner.client(key)
    names = [o["name"] for o in client.get("/api/v1/orgs/").json()["objects"]]
    assert names == ["acme"]
    assert client.get("/api/v1/orgs/alice/").status_code == 404
    assert client.get("/api/v1/orgs/acme/").status_code == 200
    assert client.get("/api/v1/user/apikeys/").status_code == 403


def test_service_account_key_survives_its_creator_leaving(owner):
    actor = Actor(user=owner.user)
    bob = services.user_signup(username="bob", email="b@example.com", password=PASSWORD)
    services.membership_add(actor=actor, organization=owner.org, username="bob", role="owner")
    account = services.service_account_create(actor=actor, organization=owner.org, name="deploybot")
    response = owner.client().post(
        f"/api/v1/orgs/acme/service-accounts/{account.uuid}/apikeys/",
        {"label": "ci"},
        format="json",
    )
    assert response.status_code == 201
    key = response.json()["key"]
    services.membership_remove(actor=actor, membership=owner.org.memberships.get(user=owner.user))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=_basic(account.username, key))
    assert client.get("/api/v1/orgs/acme/members/").status_code == 200
    assert client.get("/api/v1/orgs/alice/").status_code == 404
    assert bob.memberships.get(organization=owner.org).role == "owner"


def test_session_writes_need_csrf(owner):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(owner.user)
    assert client.get("/api/v1/orgs/").status_code == 200
    response = client.post("/api/v1/orgs/", {"name": "newco"}, format="json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["error"]


def test_password_basic_auth_is_throttled(owner, settings):
    settings.AXES_FAILURE_LIMIT = 3
    for _ in range(2):
        assert _get(_basic("alice", "nope")).status_code == 401
    locked = _get(_basic("alice", "nope"))
    # The API answers a lockout as credentials it does not accept now, saying when to retry.
    assert locked.status_code == 401
    assert "Too many failed logins" in locked.json()["error"]
    assert int(locked["Retry-After"]) == 15 * 60
    # Locked out now: even the right password is refused until the cool-off.
    right = _get(_basic("alice", PASSWORD))
    assert right.status_code == 401 and "Too many failed logins" in right.json()["error"]
    assert _get(_basic("alice", owner.key)).status_code == 200  # keys are not passwords
