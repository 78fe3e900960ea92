"""`/api/v1/orgs/<ns>/credentials/`: validated on save, write-only secrets, permissions, audit."""

import json
import logging

import pytest

from accounts.audit import Actor
from accounts.models import AuditEntry
from nodes.models import NodeCluster
from providers import selectors, services
from providers.models import Credential

pytestmark = pytest.mark.django_db
BASE = "/api/v1/orgs/acme/credentials/"


def _create(client, token, name="do-main"):
    body = {"name": name, "provider": "digitalocean", "fields": {"token": token}}
    return client.post(BASE, body, format="json")


def test_create_validates_with_the_provider_and_never_returns_the_secret(
    owner, do_api, do_token, caplog
):
    caplog.set_level(logging.DEBUG)
    response = _create(owner.client(), do_token)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["name"] == "do-main" and body["provider"] == "digitalocean"
    assert body["fields"] == {"token": "$encrypted$"}
    assert body["hint"] == do_token[-4:]
    assert body["resource_uri"] == f"{BASE}{body['uuid']}/"
    assert body["provider_uri"] == "/api/infra/v1/provider/digitalocean/"
    assert ("GET", "/v2/account") in do_api.requests
    for read in (owner.client().get(BASE), owner.client().get(body["resource_uri"])):
        assert read.status_code == 200
        assert do_token not in read.content.decode()
    credential = Credential.objects.get(uuid=body["uuid"])
    assert do_token not in credential.secret_encrypted + json.dumps(credential.config)
    assert credential.get_secret("token") == do_token
    entry = AuditEntry.objects.get(action="credential.create")
    assert entry.object_id == body["uuid"] and entry.actor == owner.user
    assert do_token not in json.dumps(entry.data) + entry.object_repr
    assert do_token not in caplog.text


def test_list_is_the_envelope(owner, do_credential):
    body = owner.client().get(BASE).json()
    assert body["meta"]["total_count"] == 1 and body["meta"]["next"] is None
    assert [c["name"] for c in body["objects"]] == ["do-main"]


def test_list_does_a_fixed_number_of_queries(owner, do_api, do_token, settings):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from providers.models import Credential as Model
    from providers.services import external_id_ensure

    external_id_ensure(organization=owner.org)
    client = owner.client()

    def count():
        with CaptureQueriesContext(connection) as queries:
            assert client.get(BASE).status_code == 200
        return len(queries)

    Model.objects.create(
        organization=owner.org, provider="aws", name="a0", config={"role_arn": "r"}
    )
    count()  # the key's first use is recorded once
    one = count()
    for n in range(1, 6):
        Model.objects.create(organization=owner.org, provider="aws", name=f"a{n}")
    assert count() == one


def test_refused_credential_is_a_clear_400_and_nothing_is_stored(owner, do_api, caplog):
    wrong = "dop_v1_" + "f" * 64
    response = _create(owner.client(), wrong)
    assert response.status_code == 400
    assert response.json()["error"] == (
        "fields: DigitalOcean: cannot check the token: Unable to authenticate you (HTTP 401)"
    )
    assert wrong not in response.content.decode() and wrong not in caplog.text
    assert not Credential.objects.exists()
    assert not AuditEntry.objects.filter(action__startswith="credential.").exists()


@pytest.mark.parametrize(
    "body, field",
    [
        ({"name": "x", "provider": "nope", "fields": {}}, "provider"),
        ({"name": "x", "provider": "digitalocean", "fields": {}}, "fields"),
        ({"name": "x", "provider": "digitalocean", "fields": {"token": "t", "x": "y"}}, "fields"),
        ({"name": "x", "provider": "digitalocean", "fields": {"token": "t"}, "hint": "h"}, "hint"),
        ({"name": "x", "provider": "digitalocean", "fields": ["t"]}, "fields"),
        ({"name": "x", "provider": "local"}, "provider"),
        ({"provider": "digitalocean", "fields": {"token": "t"}}, "name"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(owner, do_api, body, field):
    response = owner.client().post(BASE, body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["fields"]
    assert not Credential.objects.exists()


def test_duplicate_name_is_refused(owner, do_credential, do_token):
    response = _create(owner.client(), do_token)
    assert response.status_code == 400
    assert "already exists" in response.json()["error"]


def test_patch_with_the_placeholder_keeps_the_secret(owner, do_credential, do_api, do_token):
    url = f"{BASE}{do_credential.uuid}/"
    calls = len(do_api.requests)
    body = {"name": "renamed", "fields": {"token": "$encrypted$"}}
    response = owner.client().patch(url, body, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["name"] == "renamed"
    assert len(do_api.requests) == calls  # nothing changed that needs checking
    do_credential.refresh_from_db()
    assert do_credential.get_secret("token") == do_token
    entry = AuditEntry.objects.get(action="credential.update")
    assert entry.data == {"name": "renamed"}


def test_patch_with_a_new_secret_is_validated_first(owner, do_credential, do_api, do_token):
    url = f"{BASE}{do_credential.uuid}/"
    refused = owner.client().patch(url, {"fields": {"token": "wrong-token-123456"}}, format="json")
    assert refused.status_code == 400
    do_credential.refresh_from_db()
    assert do_credential.get_secret("token") == do_token
    do_api.token = "dop_v1_rotated_token_000000"
    accepted = owner.client().patch(url, {"fields": {"token": do_api.token}}, format="json")
    assert accepted.status_code == 200, accepted.content
    assert accepted.json()["hint"] == "0000"
    do_credential.refresh_from_db()
    assert do_credential.get_secret("token") == do_api.token
    assert AuditEntry.objects.get(action="credential.update").data == {"fields": ["token"]}


def test_delete(owner, do_credential):
    response = owner.client().delete(f"{BASE}{do_credential.uuid}/")
    assert response.status_code == 204
    assert not Credential.objects.exists()
    assert AuditEntry.objects.filter(action="credential.delete").exists()


def test_a_credential_a_live_cluster_uses_cannot_be_deleted(owner, do_credential):
    """Its clusters point at it by a foreign key: deleting it answers 409 while one is live,
    and goes through once they are all terminated (they keep their history, not the link)."""
    cluster = NodeCluster.objects.create(
        organization=owner.org,
        name="web",
        provider="digitalocean",
        region="ams3",
        node_type="s-1vcpu-1gb",
        credential=do_credential,
    )
    response = owner.client().delete(f"{BASE}{do_credential.uuid}/")
    assert response.status_code == 409
    assert "used by a node cluster" in response.json()["error"]
    assert Credential.objects.filter(pk=do_credential.pk).exists()

    NodeCluster.objects.filter(pk=cluster.pk).update(state="Terminated")
    assert owner.client().delete(f"{BASE}{do_credential.uuid}/").status_code == 204
    assert not Credential.objects.filter(pk=do_credential.pk).exists()
    cluster.refresh_from_db()
    assert cluster.credential is None and cluster.state == "Terminated"


# -- permissions ---------------------------------------------------------------------------


def _endpoints(credential):
    detail = f"{BASE}{credential.uuid}/"
    reads = [("get", BASE, None), ("get", detail, None)]
    writes = [
        ("post", BASE, {"name": "x", "provider": "digitalocean", "fields": {"token": "t"}}),
        ("patch", detail, {"name": "hacked"}),
        ("delete", detail, None),
    ]
    return reads, writes


def _call(client, method, path, body):
    return getattr(client, method)(path, body, format="json")


def test_anonymous_gets_401(anon, do_credential):
    reads, writes = _endpoints(do_credential)
    for method, path, body in reads + writes:
        assert _call(anon, method, path, body).status_code == 401, (method, path)


def test_outsider_gets_404(outsider, do_credential):
    reads, writes = _endpoints(do_credential)
    for method, path, body in reads + writes:
        response = _call(outsider.client(), method, path, body)
        assert response.status_code == 404, (method, path)
    assert Credential.objects.get().name == "do-main"


def test_readonly_member_sees_names_and_hints_only_and_gets_403_on_writes(
    readonly_member, do_credential, do_token
):
    reads, writes = _endpoints(do_credential)
    for method, path, body in reads:
        response = _call(readonly_member.client(), method, path, body)
        assert response.status_code == 200, (method, path)
        assert do_token not in response.content.decode()
    for method, path, body in writes:
        response = _call(readonly_member.client(), method, path, body)
        assert response.status_code == 403, (method, path)
    assert Credential.objects.get().name == "do-main"


def test_writer_can_create_change_and_delete(writer, do_api, do_token):
    created = _create(writer.client(), do_token, name="dave's")
    assert created.status_code == 201
    url = created.json()["resource_uri"]
    assert writer.client().patch(url, {"name": "d2"}, format="json").status_code == 200
    assert writer.client().delete(url).status_code == 204


def test_readonly_api_key_cannot_write(owner, do_credential):
    from tests.conftest import make_key

    client = owner.client(make_key(owner.user, read_only=True))
    assert client.get(BASE).status_code == 200
    assert (
        client.patch(f"{BASE}{do_credential.uuid}/", {"name": "x"}, format="json").status_code
        == 403
    )


def test_use_needs_the_use_verb_and_is_audited(
    owner, readonly_member, writer, outsider, do_credential
):
    from django.core.exceptions import PermissionDenied
    from django.http import Http404

    from accounts.permissions import access_for

    reader = access_for(user=readonly_member.user, organization=owner.org)
    with pytest.raises(PermissionDenied):
        selectors.credential_for_use(access=reader, uuid=do_credential.uuid)
    stranger = access_for(user=outsider.user, organization=outsider.org)
    with pytest.raises(Http404):
        selectors.credential_for_use(access=stranger, uuid=do_credential.uuid)
    deployer = access_for(user=writer.user, organization=owner.org)
    credential = selectors.credential_for_use(access=deployer, uuid=do_credential.uuid)
    driver = services.credential_use(
        actor=Actor(user=writer.user), credential=credential, purpose="cluster web"
    )
    driver.validate()
    entry = AuditEntry.objects.get(action="credential.use")
    assert entry.actor == writer.user and entry.data["purpose"] == "cluster web"
