"""Shared API conventions and settings parsing."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from core.env import env_bool, env_secret
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


def test_envelope_has_root_relative_next_with_filters(owner):
    for index in range(5):
        owner.client().post("/api/v1/user/apikeys/", {"label": f"k{index}"}, format="json")
    body = owner.client().get("/api/v1/user/apikeys/?limit=2&label=x").json()
    meta = body["meta"]
    assert meta["total_count"] == 6 and meta["limit"] == 2 and meta["offset"] == 0
    assert meta["previous"] is None
    assert meta["next"] == "/api/v1/user/apikeys/?label=x&limit=2&offset=2"
    assert len(body["objects"]) == 2
    last = owner.client().get("/api/v1/user/apikeys/?limit=2&offset=4").json()["meta"]
    assert last["next"] is None and last["previous"] == "/api/v1/user/apikeys/?limit=2&offset=2"


def test_default_page_size_is_25(owner):
    for index in range(26):
        make_user(f"user{index:02d}")
    client = owner.client()
    for index in range(26):
        client.post("/api/v1/orgs/acme/members/", {"username": f"user{index:02d}"}, format="json")
    meta = client.get("/api/v1/orgs/acme/members/").json()["meta"]
    assert meta["limit"] == 25 and meta["total_count"] == 27 and meta["next"]


def test_env_bool_is_strict(monkeypatch):
    monkeypatch.setenv("DC_X", "yes")
    assert env_bool("DC_X") is True
    monkeypatch.setenv("DC_X", "maybe")
    with pytest.raises(ImproperlyConfigured, match="DC_X"):
        env_bool("DC_X")


def test_env_secret_reads_the_file_first(monkeypatch, tmp_path):
    path = tmp_path / "secret"
    path.write_text("from-file\n")
    monkeypatch.setenv("DC_S", "from-env")
    monkeypatch.setenv("DC_S_FILE", str(path))
    assert env_secret("DC_S") == "from-file"


def test_openapi_schema_covers_the_api(owner):
    response = owner.client().get("/api/schema/?format=json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert "/api/v1/orgs/{ns}/members/" in paths and "/api/v1/user/apikeys/" in paths
