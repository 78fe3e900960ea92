"""Docker Cloud API v1 shapes and tenancy for node clusters, nodes and actions (no lab)."""

import re

import pytest

from nodes.models import Action, NodeCluster

pytestmark = pytest.mark.django_db
RFC1123 = re.compile(r"^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} \+0000$")
LAB = {
    "region": "/api/infra/v1/region/local/local/",
    "node_type": "/api/infra/v1/nodetype/local/lab/",
}


def _create(person, ns="acme", **extra):
    body = {"name": "web", **LAB, **extra}
    return person.client().post(f"/api/infra/v1/{ns}/nodecluster/", body, format="json")


def test_create_answers_201_with_the_action_header(owner):
    response = _create(owner, disk="30", target_num_nodes=2, tags=[{"name": "x"}])
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["state"] == "Init" and body["disk"] == 30 and body["target_num_nodes"] == 2
    assert body["region"] == LAB["region"] and body["node_type"] == LAB["node_type"]
    assert body["resource_uri"] == f"/api/infra/v1/acme/nodecluster/{body['uuid']}/"
    action_uri = response["X-DockerCloud-Action-URI"]
    action = owner.client().get(action_uri).json()
    assert action["action"] == "Node Cluster Create" and action["state"] == "Success"
    assert RFC1123.match(action["start_date"]) and action["object"] == body["resource_uri"]


def test_create_without_content_type_and_lookup_by_name(owner):
    client = owner.client()
    response = client.generic(
        "POST",
        "/api/infra/v1/acme/nodecluster/",
        '{"name": "db", "region": "/api/infra/v1/region/local/local/", '
        '"node_type": "/api/infra/v1/nodetype/local/lab/"}',
        content_type="",
    )
    assert response.status_code == 201
    found = client.get("/api/infra/v1/acme/nodecluster/?name=db").json()
    assert found["meta"]["total_count"] == 1 and found["objects"][0]["name"] == "db"


@pytest.mark.parametrize(
    "extra, field",
    [
        ({"region": "/api/infra/v1/region/local/mars/"}, "region"),
        ({"node_type": "/api/infra/v1/nodetype/local/huge/"}, "node_type"),
        ({"region": "mars"}, "region"),
        ({"disk": "lots"}, "disk"),
        ({"target_num_nodes": 1000}, "target_num_nodes"),
        ({"colour": "blue"}, "colour"),
        ({"tags": "web"}, "tags"),
    ],
)
def test_bad_cluster_input_is_a_400_naming_the_field(owner, extra, field):
    response = _create(owner, **extra)
    assert response.status_code == 400, response.content
    assert field in response.json()["fields"]
    assert not NodeCluster.objects.exists()


def test_outsider_gets_404_on_clusters_and_actions(owner, outsider):
    body = _create(owner).json()
    uri = body["resource_uri"]
    action_uri = Action.objects.get(action="Node Cluster Create").uuid
    client = outsider.client()
    assert client.get(uri).status_code == 404
    assert client.patch(uri, {"target_num_nodes": 3}, format="json").status_code == 404
    assert client.delete(uri).status_code == 404
    assert client.post(f"{uri}deploy/").status_code == 404
    assert client.get(f"/api/infra/v1/globex/nodecluster/{body['uuid']}/").status_code == 404
    assert client.get("/api/infra/v1/nodecluster/").json()["meta"]["total_count"] == 0
    assert client.get(f"/api/audit/v1/action/{action_uri}/").status_code == 404
    assert client.post(f"/api/audit/v1/action/{action_uri}/retry/").status_code == 404
    assert client.get("/api/audit/v1/action/").json()["meta"]["total_count"] == 0
    assert _create(outsider, ns="acme").status_code == 404
    assert NodeCluster.objects.get().target_num_nodes == 1


def test_read_only_member_sees_but_cannot_change_clusters(owner, readonly_member):
    uri = _create(owner).json()["resource_uri"]
    client = readonly_member.client()
    assert client.get(uri).status_code == 200
    assert client.get("/api/audit/v1/action/").json()["meta"]["total_count"] == 1
    assert client.patch(uri, {"target_num_nodes": 3}, format="json").status_code == 403
    assert client.post(f"{uri}deploy/").status_code == 403
    assert client.delete(uri).status_code == 403
    assert _create(readonly_member).status_code == 403
    assert NodeCluster.objects.get().state == "Init"


def test_scaling_an_init_cluster_only_sets_the_target(owner):
    uri = _create(owner).json()["resource_uri"]
    response = owner.client().patch(uri, {"target_num_nodes": 4}, format="json")
    assert response.status_code == 202 and response.json()["target_num_nodes"] == 4
    assert response.json()["state"] == "Init"


def test_service_stub_is_an_empty_list(owner):
    for path in ("/api/app/v1/service/", "/api/app/v1/acme/service/?name=web"):
        body = owner.client().get(path).json()
        assert body["objects"] == [] and body["meta"]["total_count"] == 0


def test_action_cannot_be_canceled_when_finished(owner):
    _create(owner)
    action = Action.objects.get()
    response = owner.client().post(f"/api/audit/v1/action/{action.uuid}/cancel/")
    assert response.status_code == 400 and "cannot be canceled" in response.json()["error"]
