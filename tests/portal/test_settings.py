"""The user's API keys and SSH keys."""

import base64
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiKey, SshKey

from .conftest import text

pytestmark = pytest.mark.django_db


def _create_key(client, **data):
    return client.post("/settings/apikeys/", {"label": "laptop"} | data)


def _api_status(username: str, key: str) -> int:
    api = APIClient()
    raw = base64.b64encode(f"{username}:{key}".encode()).decode()
    return api.get("/api/v1/user/", HTTP_AUTHORIZATION=f"Basic {raw}").status_code


def test_new_api_key_is_shown_once_works_and_is_not_stored(client, owner):
    client.force_login(owner.user)
    response = _create_key(client)
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    plaintext = response.context["plaintext"]
    assert plaintext.startswith("dck_")
    assert plaintext in response.content.decode()

    listing = client.get("/settings/apikeys/")
    assert plaintext not in listing.content.decode()
    key = ApiKey.objects.get(user=owner.user, label="laptop")
    assert f"dck_{key.prefix}" in text(listing)
    row = ApiKey.objects.filter(pk=key.pk).values().get()
    assert not any(plaintext in str(value) for value in row.values())
    assert _api_status("alice", plaintext) == 200


def test_api_key_options_are_kept_and_listed(client, owner):
    client.force_login(owner.user)
    expires = (timezone.now() + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M")
    _create_key(client, read_only="on", organization="acme", expires_at=expires)
    key = ApiKey.objects.get(user=owner.user, label="laptop")
    assert key.read_only
    assert key.organization == owner.org
    assert key.expires_at.strftime("%Y-%m-%dT%H:%M") == expires
    assert "laptop dck_" in text(client.get("/settings/apikeys/"))
    assert "read-only, only acme" in text(client.get("/settings/apikeys/"))


def test_api_key_for_an_organization_i_am_not_in_or_in_the_past_is_refused(client, owner, outsider):
    client.force_login(owner.user)
    before = ApiKey.objects.count()
    response = _create_key(client, organization="globex")
    assert "organization" in response.context["form"].errors
    past = (timezone.now() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    response = _create_key(client, expires_at=past)
    assert response.context["form"].errors["expires_at"] == ["The expiry must be in the future."]
    assert "plaintext" not in response.context
    assert ApiKey.objects.count() == before


def test_revoked_key_is_listed_as_revoked_and_stops_working(client, owner):
    client.force_login(owner.user)
    plaintext = _create_key(client).context["plaintext"]
    key = ApiKey.objects.get(user=owner.user, label="laptop")
    assert client.post(f"/settings/apikeys/{key.uuid}/revoke/").status_code == 302
    assert "laptop" in text(client.get("/settings/apikeys/"))
    assert "revoked" in text(client.get("/settings/apikeys/"))
    assert _api_status("alice", plaintext) == 401


def test_someone_elses_key_is_a_404(client, owner, outsider):
    key = ApiKey.objects.filter(user=outsider.user).get()
    client.force_login(owner.user)
    assert client.post(f"/settings/apikeys/{key.uuid}/revoke/").status_code == 404
    key.refresh_from_db()
    assert key.revoked_at is None
    assert key.prefix not in text(client.get("/settings/apikeys/"))


def _public_key(comment="erin@laptop") -> str:
    line = (
        ed25519.Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    return f"{line} {comment}"


def test_ssh_key_add_lists_fingerprint_and_delete(client, owner):
    client.force_login(owner.user)
    response = client.post("/settings/sshkeys/", {"label": "", "public_key": _public_key()})
    assert response.status_code == 302
    key = SshKey.objects.get(user=owner.user)
    assert key.label == "erin@laptop"
    assert key.fingerprint.startswith("SHA256:")
    assert key.fingerprint in text(client.get("/settings/sshkeys/"))
    client.post(f"/settings/sshkeys/{key.uuid}/delete/")
    assert not SshKey.objects.filter(user=owner.user).exists()


def test_invalid_or_duplicate_ssh_key_shows_the_error(client, owner):
    client.force_login(owner.user)
    response = client.post("/settings/sshkeys/", {"public_key": "ssh-ed25519 not-base64!"})
    assert response.status_code == 200
    assert response.context["form"].errors["public_key"][0].startswith("Not a valid SSH public key")
    public_key = _public_key()
    client.post("/settings/sshkeys/", {"public_key": public_key})
    response = client.post("/settings/sshkeys/", {"public_key": public_key})
    assert response.context["form"].errors["public_key"] == ["You already added this key."]
    assert SshKey.objects.filter(user=owner.user).count() == 1


def test_someone_elses_ssh_key_is_a_404(client, owner, outsider):
    client.force_login(outsider.user)
    client.post("/settings/sshkeys/", {"public_key": _public_key()})
    key = SshKey.objects.get(user=outsider.user)
    client.force_login(owner.user)
    assert client.post(f"/settings/sshkeys/{key.uuid}/delete/").status_code == 404
    assert SshKey.objects.filter(pk=key.pk).exists()
    assert key.fingerprint not in text(client.get("/settings/sshkeys/"))
