"""Service accounts: admins create them, give them keys (shown once), revoke and delete."""

import base64

import pytest
from rest_framework.test import APIClient

from accounts.models import ApiKey, Membership, User

from .conftest import text

pytestmark = pytest.mark.django_db


def test_create_account_and_key_shown_once(client, owner):
    client.force_login(owner.user)
    response = client.post("/orgs/acme/service-accounts/", {"name": "ci", "role": "member"})
    account = User.objects.get(username="acme+ci")
    assert response["Location"] == f"/orgs/acme/service-accounts/{account.uuid}/"
    assert account.service_org == owner.org
    assert Membership.objects.get(user=account).role == "member"

    response = client.post(
        f"/orgs/acme/service-accounts/{account.uuid}/apikeys/", {"label": "deploy"}
    )
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    plaintext = response.context["plaintext"]
    assert plaintext in response.content.decode()
    key = ApiKey.objects.get(user=account)
    assert key.organization == owner.org  # a service account's key only works in its org
    page = client.get(f"/orgs/acme/service-accounts/{account.uuid}/")
    assert plaintext not in page.content.decode()
    assert "deploy" in text(page)

    raw = base64.b64encode(f"acme+ci:{plaintext}".encode()).decode()
    api = APIClient()
    assert api.get("/api/v1/orgs/acme/teams/", HTTP_AUTHORIZATION=f"Basic {raw}").status_code == 200


def test_invalid_names_show_the_error(client, owner):
    client.force_login(owner.user)
    client.post("/orgs/acme/service-accounts/", {"name": "ci", "role": "member"})
    response = client.post("/orgs/acme/service-accounts/", {"name": "ci", "role": "admin"})
    assert response.context["form"].errors["name"] == [
        "A service account named 'ci' already exists."
    ]
    response = client.post("/orgs/acme/service-accounts/", {"name": "C I", "role": "member"})
    assert "name" in response.context["form"].errors
    assert User.objects.filter(service_org=owner.org).count() == 1


def test_key_form_errors_are_shown_on_the_account_page(client, owner, acme):
    client.force_login(owner.user)
    response = client.post(
        f"/orgs/acme/service-accounts/{acme.account.uuid}/apikeys/", {"label": ""}
    )
    assert response.status_code == 200
    assert "label" in response.context["key_form"].errors
    assert ApiKey.objects.filter(user=acme.account).count() == 1


def test_delete_removes_the_account_and_its_keys(client, owner, acme):
    client.force_login(owner.user)
    response = client.post(f"/orgs/acme/service-accounts/{acme.account.uuid}/delete/")
    assert response["Location"] == "/orgs/acme/service-accounts/"
    assert not User.objects.filter(pk=acme.account.pk).exists()
    assert not ApiKey.objects.filter(pk=acme.account_key.pk).exists()
