"""Portal pages of node clusters: create (and deploy), scale, upgrade, terminate.

As for every portal page: outsiders get 404 and change nothing, read-only members 403 on
writes; a team granted `use` of a credential manages the clusters of that credential only.
The DigitalOcean API is the stand-in of this directory (creating a cluster asks no provider;
deploying queues the reconciler, which is not run here).
"""

import pytest

from accounts.audit import Actor
from nodes.models import Action, NodeCluster
from providers import services as provider_services
from tests.portal.conftest import text

pytestmark = pytest.mark.django_db

BASE = "/orgs/acme"
REGION = "/api/infra/v1/region/digitalocean/ams3/"
SIZE = "/api/infra/v1/nodetype/digitalocean/s-1vcpu-1gb/"


@pytest.fixture
def reconciles(monkeypatch):
    ids = []
    monkeypatch.setattr("nodes.tasks.reconcile_cluster.delay", ids.append)
    return ids


def _form(**overrides) -> dict:
    return {
        "name": "web", "region": REGION, "node_type": SIZE, "credential": "",
        "target_num_nodes": "3", "disk": "60", "deploy": "on", **overrides,
    }  # fmt: skip


def _state() -> tuple:
    return (
        list(NodeCluster.objects.values_list("name", "state", "target_num_nodes")),
        Action.objects.count(),
    )


def test_writer_creates_and_deploys_a_cluster(
    client, writer, do_credential, reconciles, django_capture_on_commit_callbacks
):
    client.force_login(writer.user)
    page = client.get(f"{BASE}/clusters/").content.decode()
    assert f'value="{REGION}"' in page and f'value="{SIZE}"' in page
    assert f'value="{do_credential.uuid}"' in page
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"{BASE}/clusters/", _form())
    cluster = NodeCluster.objects.get(name="web")
    assert response.status_code == 302
    assert response["Location"] == f"{BASE}/clusters/{cluster.uuid}/"
    assert cluster.state == "Deploying" and cluster.target_num_nodes == 3
    assert cluster.credential == do_credential  # the provider's only one
    create = Action.objects.get(action="Node Cluster Create")
    deploy = Action.objects.get(action="Node Cluster Deploy")
    assert create.state == "Success" and create.user == writer.user
    assert create.object_uri == f"/api/infra/v1/acme/nodecluster/{cluster.uuid}/"
    assert deploy.state == "In progress" and deploy.object_uuid == cluster.uuid
    assert reconciles == [cluster.pk]
    page = text(client.get(response["Location"]))
    assert "State Deploying" in page and "digitalocean, ams3, s-1vcpu-1gb" in page
    assert "Node Cluster Deploy In progress" in page and "Terminate web" in page
    listing = text(client.get(f"{BASE}/clusters/"))
    assert "web Deploying digitalocean ams3 s-1vcpu-1gb 0 / 3" in listing


def test_bad_input_shows_field_errors_and_makes_nothing(client, writer, do_credential):
    client.force_login(writer.user)
    before = _state()
    cases = {
        "name": _form(name=""),
        "target_num_nodes": _form(target_num_nodes="101"),
        "region": _form(region="/api/infra/v1/region/nowhere/x/"),
    }
    for field, data in cases.items():
        response = client.post(f"{BASE}/clusters/", data)
        assert response.status_code == 200, field
        assert field in response.context["form"].errors, (field, response.context["form"].errors)
    # A region and a size of different providers: the service's rule, shown on the field.
    response = client.post(
        f"{BASE}/clusters/", _form(node_type="/api/infra/v1/nodetype/local/lab/")
    )
    errors = response.context["form"].errors
    assert "node_type" in errors and _state() == before


def test_scale_upgrade_and_terminate(client, writer, do_credential, reconciles):
    client.force_login(writer.user)
    client.post(f"{BASE}/clusters/", _form(deploy=""))
    cluster = NodeCluster.objects.get(name="web")
    url = f"{BASE}/clusters/{cluster.uuid}"
    assert cluster.state == "Init"
    response = client.post(f"{url}/scale/", {"target_num_nodes": "2"}, follow=True)
    assert "Scaling web to 2 nodes." in text(response)
    assert NodeCluster.objects.get(pk=cluster.pk).target_num_nodes == 2  # Init: only the target
    before = _state()
    response = client.post(f"{url}/scale/", {"target_num_nodes": "many"}, follow=True)
    assert "Give a number of nodes." in text(response) and _state() == before
    response = client.post(f"{url}/docker-upgrade/", follow=True)
    assert "Cannot" in text(response) or "no Deployed node" in text(response)
    assert _state() == before  # refused: no Pending action left behind
    response = client.post(f"{url}/tags/", {"tags": "web, eu-west"}, follow=True)
    assert "Tags of web saved" in text(response)
    assert NodeCluster.objects.get(pk=cluster.pk).tags == [{"name": "web"}, {"name": "eu-west"}]
    assert Action.objects.filter(action="Node Cluster Update", state="Success").count() == 1
    client.post(f"{url}/deploy/")
    assert NodeCluster.objects.get(pk=cluster.pk).state == "Deploying"
    client.post(f"{url}/terminate/")
    assert NodeCluster.objects.get(pk=cluster.pk).state == "Terminating"
    assert client.post(f"{url}/explode/").status_code == 404
    assert client.get(f"{url}/terminate/").status_code == 405


def test_outsider_gets_404_and_readonly_member_403(
    client, owner, writer, readonly_member, outsider, do_credential, reconciles
):
    client.force_login(writer.user)
    client.post(f"{BASE}/clusters/", _form(deploy=""))
    cluster = NodeCluster.objects.get(name="web")
    url = f"{BASE}/clusters/{cluster.uuid}"
    before = _state()

    client.force_login(outsider.user)
    for path in (f"{BASE}/clusters/", f"{url}/", f"/orgs/globex/clusters/{cluster.uuid}/"):
        assert client.get(path).status_code == 404, path
    for verb in ("deploy", "scale", "tags", "terminate"):
        assert client.post(f"{url}/{verb}/", {"target_num_nodes": "1"}).status_code == 404
        assert client.post(f"/orgs/globex/clusters/{cluster.uuid}/{verb}/").status_code == 404
    assert client.post(f"{BASE}/clusters/", _form()).status_code == 404
    assert "web" not in text(client.get("/orgs/globex/clusters/"))

    client.force_login(readonly_member.user)
    page = client.get(f"{url}/").content.decode()
    assert client.get(f"{BASE}/clusters/").status_code == 200
    assert f'method="post" action="{BASE}/' not in page
    for verb in ("deploy", "scale", "tags", "terminate"):
        assert client.post(f"{url}/{verb}/", {"target_num_nodes": "1"}).status_code == 403
    assert client.post(f"{BASE}/clusters/", _form(name="mine")).status_code == 403
    assert _state() == before


def test_a_granted_team_manages_its_credentials_clusters_only(
    client, owner, readonly_member, do_credential, do_token, reconciles
):
    other = provider_services.credential_create(
        actor=Actor(user=owner.user), organization=owner.org, provider="digitalocean",
        name="do-other", fields={"token": do_token},
    )  # fmt: skip
    provider_services.credential_grants_set(
        actor=Actor(user=owner.user), credential=do_credential, teams=["viewers"]
    )
    client.force_login(owner.user)
    client.post(f"{BASE}/clusters/", _form(name="theirs", credential=str(other.uuid), deploy=""))
    theirs = NodeCluster.objects.get(name="theirs")

    client.force_login(readonly_member.user)
    page = client.get(f"{BASE}/clusters/").content.decode()
    assert f'value="{do_credential.uuid}"' in page and f'value="{other.uuid}"' not in page
    assert "/region/local/" not in page  # a grant is no licence for credential-less providers
    response = client.post(f"{BASE}/clusters/", _form(credential=str(do_credential.uuid)))
    assert response.status_code == 302
    mine = NodeCluster.objects.get(name="web")
    assert mine.state == "Deploying"
    assert (
        client.post(f"{BASE}/clusters/{mine.uuid}/scale/", {"target_num_nodes": "1"}).status_code
        == 302
    )
    assert client.post(f"{BASE}/clusters/{mine.uuid}/terminate/").status_code == 302
    assert NodeCluster.objects.get(pk=mine.pk).state == "Terminating"
    # Not the other credential's cluster, and not by naming that credential.
    assert client.post(f"{BASE}/clusters/{theirs.uuid}/terminate/").status_code == 403
    # Naming a credential the caller may not use is refused as the API refuses it.
    response = client.post(f"{BASE}/clusters/", _form(name="x", credential=str(other.uuid)))
    assert response.status_code == 403
    assert not NodeCluster.objects.filter(name="x").exists()
    assert NodeCluster.objects.get(pk=theirs.pk).state == "Init"
