"""Portal pages for credentials: anonymous to login, outsider 404, read-only 403 on writes,
secrets never in the HTML, the AWS policies to paste."""

import json

import pytest

from accounts.models import AuditEntry
from providers.drivers.aws import IAM_POLICY
from providers.models import Credential, CredentialGrant

pytestmark = pytest.mark.django_db
BASE = "/orgs/acme/credentials"


def _login(client, person):
    client.force_login(person.user)
    return client


def _pages(credential):
    return [
        f"{BASE}/",
        f"{BASE}/{credential.uuid}/",
        f"{BASE}/new/digitalocean/",
        f"{BASE}/new/aws/",
    ]


def _posts(credential, token):
    return [
        (f"{BASE}/new/digitalocean/", {"name": "evil", "token": token}),
        (f"{BASE}/{credential.uuid}/", {"name": "hacked", "token": ""}),
        (f"{BASE}/{credential.uuid}/grants/", {"team": ["viewers"]}),
        (f"{BASE}/{credential.uuid}/delete/", {}),
    ]


def _snapshot():
    return (
        sorted(Credential.objects.values_list("name", "secret_encrypted")),
        sorted(CredentialGrant.objects.values_list("credential__name", "team__name")),
        AuditEntry.objects.count(),
    )


def test_anonymous_is_sent_to_login(client, do_credential, do_token):
    for path in _pages(do_credential):
        response = client.get(path)
        assert response.status_code == 302 and response["Location"].startswith("/login/"), path
    before = _snapshot()
    for path, data in _posts(do_credential, do_token):
        assert client.post(path, data).status_code == 302, path
    assert _snapshot() == before


def test_outsider_gets_404(client, outsider, do_credential, do_token):
    _login(client, outsider)
    for path in _pages(do_credential):
        assert client.get(path).status_code == 404, path
    before = _snapshot()
    for path, data in _posts(do_credential, do_token):
        assert client.post(path, data).status_code == 404, path
    assert _snapshot() == before


def test_readonly_member_sees_names_and_hints_and_gets_403_on_writes(
    client, readonly_member, do_credential, do_token
):
    _login(client, readonly_member)
    listing = client.get(f"{BASE}/")
    assert listing.status_code == 200
    html = listing.content.decode()
    assert "do-main" in html and f"…{do_token[-4:]}" in html and do_token not in html
    assert "Add a credential" not in html
    detail = client.get(f"{BASE}/{do_credential.uuid}/")
    assert detail.status_code == 200 and do_token not in detail.content.decode()
    assert "Check and save" not in detail.content.decode()
    for path in (f"{BASE}/new/digitalocean/", f"{BASE}/new/aws/"):
        assert client.get(path).status_code == 403, path
    before = _snapshot()
    for path, data in _posts(do_credential, do_token):
        assert client.post(path, data).status_code == 403, path
    assert _snapshot() == before


def test_owner_creates_edits_and_deletes_through_the_pages(client, owner, do_api, do_token):
    _login(client, owner)
    page = client.get(f"{BASE}/new/digitalocean/")
    assert page.status_code == 200 and 'type="password"' in page.content.decode()
    refused = client.post(f"{BASE}/new/digitalocean/", {"name": "do", "token": "wrong-token-xyz"})
    assert refused.status_code == 200
    html = refused.content.decode()
    assert "Unable to authenticate you" in html and "wrong-token-xyz" not in html
    assert not Credential.objects.exists()

    created = client.post(f"{BASE}/new/digitalocean/", {"name": "do", "token": do_token})
    assert created.status_code == 302
    credential = Credential.objects.get()
    detail = client.get(created["Location"])
    html = detail.content.decode()
    assert "Checked with DigitalOcean and saved do." in html and do_token not in html

    # A blank secret keeps the stored one.
    saved = client.post(created["Location"], {"name": "do-renamed", "token": ""})
    assert saved.status_code == 302
    credential.refresh_from_db()
    assert credential.name == "do-renamed" and credential.get_secret("token") == do_token

    deleted = client.post(f"{BASE}/{credential.uuid}/delete/")
    assert deleted.status_code == 302 and not Credential.objects.exists()
    actions = list(
        AuditEntry.objects.filter(action__startswith="credential.").values_list("action", flat=True)
    )
    assert sorted(actions) == ["credential.create", "credential.delete", "credential.update"]


def test_aws_page_shows_the_policies_to_paste(client, owner, monkeypatch):
    principal = "arn:aws:iam::123456789012:user/dockercloud"
    monkeypatch.setattr("providers.drivers.aws.platform_principal", lambda: principal)
    from django.core.cache import cache

    cache.clear()
    _login(client, owner)
    html = client.get(f"{BASE}/new/aws/").content.decode()
    from html import unescape

    text = unescape(html)
    assert json.dumps(IAM_POLICY, indent=2) in text
    external_id = owner.org.aws_external_id.value
    assert external_id.startswith("dc-")
    assert f'"sts:ExternalId": "{external_id}"' in text
    assert f'"AWS": "{principal}"' in text


def test_unknown_provider_page_is_404(client, owner):
    _login(client, owner)
    assert client.get(f"{BASE}/new/nope/").status_code == 404
    assert client.get(f"{BASE}/new/local/").status_code == 404  # needs no credential


def test_nav_link_goes_to_the_personal_organization(client, owner):
    _login(client, owner)
    response = client.get("/credentials/")
    assert response.status_code == 302 and response["Location"] == "/orgs/alice/credentials/"
    assert 'href="/credentials/"' in client.get("/orgs/acme/credentials/").content.decode()


def test_admin_chooses_on_the_page_which_teams_may_use_a_credential(
    client, owner, readonly_member, writer, do_credential
):
    _login(client, owner)
    page = client.get(f"{BASE}/{do_credential.uuid}/").content.decode()
    assert 'name="team" value="viewers"' in page and 'name="team" value="deployers"' in page
    saved = client.post(f"{BASE}/{do_credential.uuid}/grants/", {"team": ["viewers"]})
    assert saved.status_code == 302
    assert list(CredentialGrant.objects.values_list("team__name", flat=True)) == ["viewers"]
    page = client.get(saved["Location"]).content.decode()
    assert "do-main may be used by viewers." in page
    assert 'value="viewers" checked' in page and 'value="deployers" checked' not in page
    unknown = client.post(f"{BASE}/{do_credential.uuid}/grants/", {"team": ["nobody"]})
    assert "No team named" in client.get(unknown["Location"]).content.decode()
    assert list(CredentialGrant.objects.values_list("team__name", flat=True)) == ["viewers"]

    # Writers edit credentials but do not hand out permissions.
    _login(client, writer)
    assert 'name="team"' not in client.get(f"{BASE}/{do_credential.uuid}/").content.decode()
    assert client.post(f"{BASE}/{do_credential.uuid}/grants/", {}).status_code == 403
    assert CredentialGrant.objects.count() == 1
