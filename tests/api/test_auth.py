"""API authentication: key schemes, passwords, revocation, expiry and scopes."""

import base64
from datetime import timedelta
from ipaddress import ip_network

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import services
from accounts.audit import Actor
from accounts.models import ApiKey, AuditEntry
from core.clientip import client_address
from core.env import env_networks
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


# --- behind a reverse proxy (DC_TRUSTED_PROXIES) ----------------------------------------------
PROXY = "10.0.0.2"  # the load balancer: every request reaches us from it


@pytest.fixture
def behind_proxy(settings):
    settings.DC_TRUSTED_PROXIES = (ip_network("10.0.0.0/24"),)
    settings.AXES_FAILURE_LIMIT = 3


def _locked_out(response) -> bool:
    """The API's lockout answer: 401 saying so, with when to retry."""
    return (
        response.status_code == 401
        and "Too many failed logins" in response.json()["error"]
        and "Retry-After" in response
    )


def _via_proxy(header: str, forwarded_for: str, path: str = "/api/v1/orgs/"):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    return client.get(path, REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=forwarded_for)


def test_an_attacker_behind_the_proxy_locks_out_only_themselves(owner, behind_proxy):
    """Guessing alice's password from one address must not lock alice out everywhere: the
    lockout is keyed on the client the trusted proxy names, not on the proxy."""
    attacker, alice_at_home = "203.0.113.5", "198.51.100.7"
    for _ in range(3):
        assert _via_proxy(_basic("alice", "guess"), attacker).status_code == 401
    assert _locked_out(_via_proxy(_basic("alice", PASSWORD), attacker))
    assert _via_proxy(_basic("alice", PASSWORD), alice_at_home).status_code == 200


def test_a_forged_forwarded_for_does_not_evade_the_lockout(owner, behind_proxy):
    """The client writes what it likes left of the proxy's entry, and a client that is not a
    trusted proxy may send the header itself: neither changes whose attempts they count as."""
    for n in range(3):
        forged = f"192.0.2.{n}, 203.0.113.5"  # the proxy appended the real address
        assert _via_proxy(_basic("alice", "guess"), forged).status_code == 401
    assert _locked_out(_via_proxy(_basic("alice", PASSWORD), "192.0.2.99, 203.0.113.5"))
    direct = APIClient()
    direct.credentials(HTTP_AUTHORIZATION=_basic("alice", "guess"))
    for n in range(3):
        direct.get("/api/v1/orgs/", REMOTE_ADDR="198.18.0.1", HTTP_X_FORWARDED_FOR=f"10.0.0.{n}")
    direct.credentials(HTTP_AUTHORIZATION=_basic("alice", PASSWORD))
    locked = direct.get("/api/v1/orgs/", REMOTE_ADDR="198.18.0.1", HTTP_X_FORWARDED_FOR="1.1.1.1")
    assert _locked_out(locked)


def test_the_audit_log_records_the_client_behind_the_proxy(owner, behind_proxy):
    client = owner.client()
    response = client.post(
        "/api/v1/user/apikeys/",
        {"label": "ci"},
        format="json",
        REMOTE_ADDR=PROXY,
        HTTP_X_FORWARDED_FOR="203.0.113.5, 10.0.0.7",  # two proxies of ours
    )
    assert response.status_code == 201
    entry = AuditEntry.objects.filter(action="apikey.create").latest("id")
    assert entry.ip == "203.0.113.5"


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("203.0.113.5", "1.2.3.4", "203.0.113.5"),  # not a proxy of ours: its header is ignored
        (PROXY, "1.2.3.4, 203.0.113.5", "203.0.113.5"),
        (PROXY, "203.0.113.5:4711", "203.0.113.5"),
        (PROXY, "[2001:db8::5]:4711", "2001:db8::5"),
        (PROXY, "not-an-address, 203.0.113.5", "203.0.113.5"),
        (PROXY, "203.0.113.5, garbage", PROXY),  # the proxy wrote nothing usable
        (PROXY, "10.0.0.9", "10.0.0.9"),  # only proxies: the left-most is the client
        (f"::ffff:{PROXY}", "203.0.113.5", "203.0.113.5"),
        (PROXY, "", PROXY),
    ],
)
def test_client_address(peer, forwarded, expected):
    trusted = (ip_network("10.0.0.0/24"),)
    assert client_address(peer, forwarded, trusted) == expected


@pytest.mark.parametrize("value", ["10.0.0.1/8", "10.0.0.0/33", "proxy.example", "10.0.0.0/24,,"])
def test_trusted_proxies_are_parsed_strictly(monkeypatch, value):
    monkeypatch.setenv("DC_TRUSTED_PROXIES", value)
    with pytest.raises(ImproperlyConfigured, match="DC_TRUSTED_PROXIES"):
        env_networks("DC_TRUSTED_PROXIES")
    monkeypatch.setenv("DC_TRUSTED_PROXIES", " 10.0.0.0/24, 2001:db8::1 ")
    assert env_networks("DC_TRUSTED_PROXIES") == (
        ip_network("10.0.0.0/24"),
        ip_network("2001:db8::1/128"),
    )
