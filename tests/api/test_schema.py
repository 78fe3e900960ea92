"""The schema tells the truth: error statuses are documented, and bad paging is a 400."""

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "query",
    ["limit=abc", "limit=0", "limit=1001", "offset=-1", "offset=x", "limit=5&limit=6", "limit="],
)
def test_a_bad_limit_or_offset_is_a_400_naming_it(owner, query):
    response = owner.client().get(f"/api/infra/v1/acme/node/?{query}")
    assert response.status_code == 400
    name = query.split("=")[0]
    assert list(response.json()["fields"]) == [name]


def test_good_paging_still_works(owner):
    body = owner.client().get("/api/v1/orgs/?limit=1&offset=0").json()
    assert body["meta"]["limit"] == 1 and body["meta"]["offset"] == 0


def test_an_unknown_api_path_is_a_json_404(owner):
    client = owner.client()
    response = client.get("/api/infra/v1/acme/node/not-a-uuid/")
    assert response.status_code == 404 and response.json() == {"error": "Not found."}
    assert client.get("/api/v1/orgs").status_code == 301  # only the slash is missing
    assert "end with a slash" in client.post("/api/v1/orgs", {}).json()["error"]


def test_every_operation_documents_its_errors():
    schema = Client().get("/api/schema/?format=json").json()
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            codes = set(operation["responses"])
            assert {"401", "403", "404"} <= codes, (method, path, codes)
            if method in ("post", "put", "patch"):
                assert "400" in codes, (method, path)
            assert "requestBody" not in operation or set(operation["requestBody"]["content"]) == {
                "application/json"
            }
    delete = schema["paths"]["/api/v1/orgs/{ns}/credentials/{uuid}/"]["delete"]["responses"]
    assert "409" in delete  # a credential still in use


@pytest.mark.parametrize(
    "path, body, field",
    [
        ("/api/v1/orgs/", {"name": "newco", "display_name": 0}, "display_name"),
        ("/api/v1/user/apikeys/", {"label": "k", "read_only": "yes"}, "read_only"),
        ("/api/infra/v1/acme/nodecluster/", {"name": "c", "target_num_nodes": "2"}, None),
    ],
)
def test_values_must_have_their_documented_json_type(owner, path, body, field):
    response = owner.client().post(path, body, format="json")
    assert response.status_code == 400
    fields = response.json()["fields"]
    assert (field or "target_num_nodes") in fields


def test_node_and_cluster_verbs_answer_what_their_schema_documents(owner):
    from accounts.audit import Actor
    from nodes import services as node_services
    from nodes.models import NodeCluster
    from nodes.transitions import liveness
    from tests.nodes.test_registration import FACTS, make_csr

    schema = Client().get("/api/schema/?format=json").json()["paths"]
    _, token = node_services.registration_token_create(
        actor=Actor(user=owner.user), organization=owner.org
    )
    node = node_services.node_register(token=token, csr=make_csr(), facts=FACTS, remote_ip=None)[
        "node"
    ]
    liveness.node_set_reached(node_id=node.pk, connection="direct")
    cluster = NodeCluster.objects.create(
        organization=owner.org, name="c", provider="local", region="lab", node_type="small"
    )
    client = owner.client()
    node_uri, cluster_uri = (
        f"/api/infra/v1/acme/node/{node.uuid}/",
        (f"/api/infra/v1/acme/nodecluster/{cluster.uuid}/"),
    )
    calls = [
        ("patch", "/api/infra/v1/node/{uuid}/", node_uri, {"nickname": "n"}),
        ("post", "/api/infra/v1/node/{uuid}/health-check/", node_uri + "health-check/", None),
        (
            "post",
            "/api/infra/v1/node/{uuid}/docker-upgrade/",
            node_uri + "docker-upgrade/",
            None,
        ),
        ("delete", "/api/infra/v1/node/{uuid}/", node_uri, None),
        ("delete", "/api/infra/v1/node/{uuid}/", node_uri, None),  # ending already: 400
        ("patch", "/api/infra/v1/nodecluster/{uuid}/", cluster_uri, {"tags": [{"name": "a"}]}),
        ("delete", "/api/infra/v1/nodecluster/{uuid}/", cluster_uri, None),
    ]
    for method, template, uri, body in calls:
        response = (
            getattr(client, method)(uri, body, format="json")
            if body
            else getattr(client, method)(uri)
        )
        documented = set(schema[template][method]["responses"])
        assert str(response.status_code) in documented, (method, uri, response.status_code)
