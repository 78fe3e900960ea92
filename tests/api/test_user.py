"""The caller's own API keys and SSH keys."""

import pytest

pytestmark = pytest.mark.django_db

ED25519 = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGX4Rjn6CJbmNyNbWdwDyT0r7ZMmD2Y0bS0aGz6aLvT5 me@laptop"
)


def test_apikey_is_shown_once(owner):
    client = owner.client()
    created = client.post("/api/v1/user/apikeys/", {"label": "ci"}, format="json").json()
    assert created["key"].startswith("dck_") and created["label"] == "ci"
    listed = client.get("/api/v1/user/apikeys/").json()
    assert listed["meta"]["total_count"] == 2
    assert created["key"] not in str(listed)
    assert "key" not in client.get(created["resource_uri"]).json()


def test_apikey_restricted_to_an_organization_i_am_not_in(owner, outsider):
    response = owner.client().post(
        "/api/v1/user/apikeys/", {"label": "x", "organization": "globex"}, format="json"
    )
    assert response.status_code == 400 and "organization" in response.json()["fields"]


def test_sshkey_fingerprint(owner):
    client = owner.client()
    created = client.post("/api/v1/user/sshkeys/", {"public_key": ED25519}, format="json").json()
    assert created["fingerprint"].startswith("SHA256:") and created["label"] == "me@laptop"
    again = client.post("/api/v1/user/sshkeys/", {"public_key": ED25519}, format="json")
    assert again.status_code == 400 and "already added" in again.json()["error"]
    assert client.delete(created["resource_uri"]).status_code == 204
    assert client.get("/api/v1/user/sshkeys/").json()["meta"]["total_count"] == 0


def test_me(owner):
    body = owner.client().get("/api/v1/user/").json()
    assert body["username"] == "alice"
