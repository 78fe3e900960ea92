"""The Docker Cloud catalog: `/api/infra/v1/{provider,region,nodetype,az}/`, never namespaced."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from providers import drivers, services
from providers.drivers import Catalog, NodeTypeInfo, ProviderDriver, RegionInfo
from providers.models import Provider, Region

pytestmark = pytest.mark.django_db
INFRA = "/api/infra/v1/"


@pytest.fixture
def lab_off(monkeypatch):
    """This machine cannot run the lab (as on a developer laptop)."""
    monkeypatch.setattr("lab.prereq.lab_available", lambda: (False, "lab tests need root (…)"))


def test_catalog_fills_itself_and_uses_the_envelope(owner):
    assert not Provider.objects.exists()
    body = owner.client().get(f"{INFRA}provider/").json()
    assert set(body["meta"]) == {"limit", "offset", "total_count", "next", "previous"}
    names = [p["name"] for p in body["objects"]]
    assert names == ["aws", "digitalocean", "hetzner", "local"]
    aws = body["objects"][0]
    assert aws["resource_uri"] == "/api/infra/v1/provider/aws/"
    assert aws["label"] == "Amazon Web Services"
    assert "/api/infra/v1/region/aws/us-east-1/" in aws["regions"]


def _personal_credential(person, do_token):
    """A DigitalOcean credential in the person's personal organization (the catalog's default)."""
    from accounts.audit import Actor

    return services.credential_create(
        actor=Actor(user=person.user),
        organization=person.user.personal_org,
        provider="digitalocean",
        name="mine",
        fields={"token": do_token},
    )


def test_provider_available_only_with_a_credential(owner, do_api, do_token):
    _personal_credential(owner, do_token)
    body = owner.client().get(f"{INFRA}provider/").json()
    available = {p["name"]: p["available"] for p in body["objects"]}
    assert available["digitalocean"] is True
    assert available["aws"] is False and available["hetzner"] is False
    hetzner = owner.client().get(f"{INFRA}provider/hetzner/").json()
    assert (
        hetzner["unavailable_reason"] == "No Hetzner Cloud credential in the organization 'alice'."
    )


def test_available_is_for_the_callers_organization(owner, outsider, do_credential):
    """Without a namespace (the clients never send one here) the caller's organization is
    the personal one, or the one an API key is bound to."""
    from tests.conftest import make_key

    client = owner.client()
    assert client.get(f"{INFRA}provider/digitalocean/").json()["available"] is False
    bound = owner.client(make_key(owner.user, organization=owner.org))
    assert bound.get(f"{INFRA}provider/digitalocean/").json()["available"] is True
    assert bound.get(f"{INFRA}region/digitalocean/ams3/").json()["available"] is True
    assert outsider.client().get(f"{INFRA}provider/digitalocean/").json()["available"] is False


def test_local_is_unavailable_with_a_clear_reason_when_the_lab_is_missing(owner, lab_off):
    services.catalog_refresh()
    local = owner.client().get(f"{INFRA}provider/local/").json()
    assert local["available"] is False
    assert "unavailable on this machine: lab tests need root" in local["unavailable_reason"]
    region = owner.client().get(f"{INFRA}region/local/local/").json()
    assert region["available"] is False
    node_type = owner.client().get(f"{INFRA}nodetype/local/lab/").json()
    assert node_type["label"] == "Lab host (network namespace)"
    assert node_type["regions"] == ["/api/infra/v1/region/local/local/"]


def test_local_needs_no_credential(owner, monkeypatch):
    monkeypatch.setattr("lab.prereq.lab_available", lambda: (True, ""))
    services.catalog_refresh()
    assert owner.client().get(f"{INFRA}provider/local/").json()["available"] is True


def test_region_detail_and_filters(owner, do_api, do_token):
    _personal_credential(owner, do_token)
    client = owner.client()
    region = client.get(f"{INFRA}region/digitalocean/ams3/").json()
    assert region == {
        "availability_zones": [],
        "available": True,
        "label": "Amsterdam 3",
        "name": "ams3",
        "node_types": region["node_types"],
        "provider": "/api/infra/v1/provider/digitalocean/",
        "resource_uri": "/api/infra/v1/region/digitalocean/ams3/",
    }
    assert "/api/infra/v1/nodetype/digitalocean/s-1vcpu-1gb/" in region["node_types"]
    by_provider = client.get(f"{INFRA}region/", {"provider": "/api/infra/v1/provider/hetzner/"})
    assert {r["name"] for r in by_provider.json()["objects"]} == {
        "fsn1", "nbg1", "hel1", "ash", "hil", "sin"
    }  # fmt: skip
    by_name = client.get(f"{INFRA}region/", {"name": "us-east-1"}).json()
    assert [r["resource_uri"] for r in by_name["objects"]] == [
        "/api/infra/v1/region/aws/us-east-1/"
    ]
    assert client.get(f"{INFRA}region/", {"provider": "garbage/uri/x"}).json()["objects"] == []
    assert client.get(f"{INFRA}region/aws/nowhere-1/").status_code == 404


def test_nodetype_and_az_lookups_by_name_like_the_clients(owner):
    client = owner.client()
    t = client.get(f"{INFRA}nodetype/aws/t3.micro/").json()
    assert t["resource_uri"] == "/api/infra/v1/nodetype/aws/t3.micro/"
    assert t["provider"] == "/api/infra/v1/provider/aws/"
    assert "/api/infra/v1/region/aws/eu-west-1/" in t["regions"]
    assert "/api/infra/v1/az/aws/eu-west-1/eu-west-1a/" in t["availability_zones"]
    hetzner_us = client.get(
        f"{INFRA}nodetype/", {"region": "/api/infra/v1/region/hetzner/ash/", "limit": 100}
    ).json()
    assert {o["name"] for o in hetzner_us["objects"]} == {"cpx11", "cpx21", "cpx31", "cpx41"}
    in_zone = client.get(
        f"{INFRA}nodetype/",
        {"availability_zones": "/api/infra/v1/az/aws/us-west-1/us-west-1c/", "name": "m5.large"},
    ).json()
    assert [o["name"] for o in in_zone["objects"]] == ["m5.large"]
    az = client.get(f"{INFRA}az/aws/eu-west-1/eu-west-1b/").json()
    assert az == {
        "available": False,
        "name": "eu-west-1b",
        "region": "/api/infra/v1/region/aws/eu-west-1/",
        "resource_uri": "/api/infra/v1/az/aws/eu-west-1/eu-west-1b/",
    }
    zones = client.get(f"{INFRA}az/", {"region": "/api/infra/v1/region/aws/us-east-1/"}).json()
    assert zones["meta"]["total_count"] == 6
    assert client.get(f"{INFRA}az/", {"name": "us-west-1c"}).json()["meta"]["total_count"] == 1


def test_pagination_next_is_root_relative_and_keeps_filters(owner):
    body = owner.client().get(f"{INFRA}az/", {"limit": 5}).json()
    assert body["meta"]["next"] == "/api/infra/v1/az/?limit=5&offset=5"
    body = owner.client().get(f"{INFRA}nodetype/", {"provider": "aws", "limit": 2}).json()
    assert body["meta"]["next"] == "/api/infra/v1/nodetype/?provider=aws&limit=2&offset=2"


def test_lists_do_a_fixed_number_of_queries(owner):
    client = owner.client()
    client.get(f"{INFRA}provider/")  # fill the catalog
    for path in ("provider/", "region/", "nodetype/", "az/"):
        with CaptureQueriesContext(connection) as small:
            client.get(f"{INFRA}{path}", {"limit": 2})
        with CaptureQueriesContext(connection) as large:
            client.get(f"{INFRA}{path}", {"limit": 50})
        assert len(small) == len(large), path


def test_anonymous_gets_401_on_every_catalog_endpoint(anon, db):
    for path in (
        "provider/", "provider/aws/", "region/", "region/aws/us-east-1/", "nodetype/",
        "nodetype/aws/t3.micro/", "az/", "az/aws/us-east-1/us-east-1a/",
    ):  # fmt: skip
        assert anon.get(f"{INFRA}{path}").status_code == 401, path


def test_catalog_is_read_only(owner):
    client = owner.client()
    assert client.post(f"{INFRA}provider/", {}, format="json").status_code == 405
    assert client.delete(f"{INFRA}provider/aws/").status_code == 405


def test_catalog_is_never_namespaced(owner):
    """`/api/infra/v1/acme/provider/` is not the catalog (clients never namespace it)."""
    assert owner.client().get(f"{INFRA}acme/provider/").status_code == 404


class FakeDriver(ProviderDriver):
    name = "fakecloud"
    label = "Fake Cloud"
    REGIONS = (RegionInfo("r1", "Region One", ("r1a",)),)
    NODE_TYPES = (NodeTypeInfo("small", "Small"),)


def test_a_new_driver_appears_and_a_gone_one_is_unlisted(owner, monkeypatch):
    services.catalog_refresh()
    monkeypatch.setitem(
        drivers.REGISTRY, "fakecloud", "tests.providers.test_catalog_api.FakeDriver"
    )
    monkeypatch.setattr(
        FakeDriver,
        "catalog",
        classmethod(lambda cls: Catalog(cls.REGIONS, cls.NODE_TYPES)),
    )
    from providers import tasks

    tasks.refresh_catalog()
    client = owner.client()
    fake = client.get(f"{INFRA}provider/fakecloud/").json()
    assert fake["regions"] == ["/api/infra/v1/region/fakecloud/r1/"]
    assert client.get(f"{INFRA}az/fakecloud/r1/r1a/").status_code == 200
    monkeypatch.setattr(FakeDriver, "REGIONS", (RegionInfo("r2", "Region Two"),))
    services.catalog_refresh()
    assert client.get(f"{INFRA}region/fakecloud/r1/").status_code == 404
    assert Region.objects.get(provider__name="fakecloud", name="r1").listed is False
    monkeypatch.delitem(drivers.REGISTRY, "fakecloud")
    services.catalog_refresh()
    assert client.get(f"{INFRA}provider/fakecloud/").status_code == 404
