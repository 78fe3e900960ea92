"""Containers over the Docker Cloud v1 API: run, list, inspect, verbs, tenancy, bad input.

The work on the nodes is queued (recorded here); the lab scenario (test_overlay_lab.py) runs it
on real daemons."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import AuditEntry
from containers.models import Container
from containers.services import containers_end_with_node
from nodes.events.render import dockercloud_frame, stored_payload
from nodes.models import Action, DockerEvent, Node
from nodes.transitions.nodes import node_forget_agent, node_terminate_begin
from overlay.models import OverlayAddress

from ..conftest import make_key
from .conftest import deployed_node

pytestmark = pytest.mark.django_db
BASE = "/api/app/v1/acme/container/"


def _run(person, captured, **body):
    with captured(execute=True):
        return person.client().post(BASE, {"image": "local/busybox:lab", **body}, format="json")


@pytest.fixture
def nodes(owner):
    return deployed_node(owner, tags=["web"]), deployed_node(owner)


def test_run_allocates_an_address_records_an_action_and_queues_the_work(
    owner, nodes, queued, django_capture_on_commit_callbacks
):
    response = _run(
        owner, django_capture_on_commit_callbacks, name="web-1", run_command="nc -lk -p 80"
    )
    assert response.status_code == 202, response.content
    body = response.json()
    container = Container.objects.get(uuid=body["uuid"])
    action = Action.objects.get(action="Container Run")
    assert response["X-DockerCloud-Action-URI"] == f"/api/audit/v1/action/{action.uuid}/"
    assert body["state"] == "Starting" and body["image_name"] == "local/busybox:lab"
    assert body["resource_uri"] == f"{BASE}{container.uuid}/"
    assert body["node"] == f"/api/infra/v1/acme/node/{container.node.uuid}/"
    assert body["private_ip"] == container.private_ip
    held = OverlayAddress.objects.get(holder=container.uuid)
    assert held.address == container.private_ip
    assert queued == [("deploy_container", container.pk, action.pk)]
    assert AuditEntry.objects.filter(action="container.run", object_id=str(container.uuid)).exists()
    event = DockerEvent.objects.get(type="container", action="create")
    assert event.attributes["parents"] == [body["node"]]


def test_the_node_with_fewest_containers_or_the_tagged_one_is_chosen(
    owner, nodes, queued, django_capture_on_commit_callbacks
):
    tagged, plain = nodes
    first = _run(owner, django_capture_on_commit_callbacks, name="a").json()
    second = _run(owner, django_capture_on_commit_callbacks, name="b").json()
    assert {first["node"], second["node"]} == {
        f"/api/infra/v1/acme/node/{tagged.uuid}/",
        f"/api/infra/v1/acme/node/{plain.uuid}/",
    }
    assert first["private_ip"] != second["private_ip"]
    on_tag = _run(owner, django_capture_on_commit_callbacks, name="c", tag="web").json()
    assert on_tag["node"] == f"/api/infra/v1/acme/node/{tagged.uuid}/"
    missing = _run(owner, django_capture_on_commit_callbacks, name="d", tag="nope")
    assert missing.status_code == 400 and "nope" in missing.json()["fields"]["node"][0]


def test_bad_input_is_a_400_naming_the_field_and_leaves_nothing(
    owner, outsider, nodes, queued, django_capture_on_commit_callbacks
):
    foreign = deployed_node(outsider)
    cases = [
        ({"name": "bad name!"}, "name"),
        ({"name": "ok", "image": ""}, "image"),
        ({"name": "ok", "image": "has space"}, "image"),
        ({"name": "ok", "run_command": "echo 'unclosed"}, "run_command"),
        ({"name": "ok", "run_command": 5}, "run_command"),
        ({"name": "ok", "node": f"/api/infra/v1/globex/node/{foreign.uuid}/"}, "node"),
        ({"name": "ok", "node": "not-a-node"}, "node"),
        ({"name": "ok", "surprise": 1}, "surprise"),
    ]
    for body, field in cases:
        response = _run(owner, django_capture_on_commit_callbacks, **body)
        assert response.status_code == 400, (body, response.content)
        assert field in response.json()["fields"], (body, response.json())
    _run(owner, django_capture_on_commit_callbacks, name="dup")
    again = _run(owner, django_capture_on_commit_callbacks, name="dup")
    assert again.status_code == 400 and "exists" in again.json()["fields"]["name"][0]
    assert Container.objects.count() == 1 and OverlayAddress.objects.count() == 1
    assert Action.objects.filter(action="Container Run").count() == 1
    assert len(queued) == 1


def test_verbs_move_the_container_and_refuse_the_wrong_state(
    owner, nodes, queued, django_capture_on_commit_callbacks
):
    body = _run(owner, django_capture_on_commit_callbacks, name="web").json()
    uri = body["resource_uri"]
    container = Container.objects.get(uuid=body["uuid"])
    client = owner.client()
    refused = client.post(uri + "stop/")
    assert refused.status_code == 400 and "Starting" in refused.json()["error"]
    Container.objects.filter(pk=container.pk).update(state="Running")  # as the task would
    with django_capture_on_commit_callbacks(execute=True):
        stopped = client.post(uri + "stop/")
    assert stopped.status_code == 202 and stopped.json()["state"] == "Stopping"
    assert "X-DockerCloud-Action-URI" in stopped
    Container.objects.filter(pk=container.pk).update(state="Stopped")
    with django_capture_on_commit_callbacks(execute=True):
        started = client.post(uri + "start/")
    assert started.status_code == 202 and started.json()["state"] == "Starting"
    Container.objects.filter(pk=container.pk).update(state="Running", docker_id="abc")
    other = next(n for n in nodes if n.pk != container.node_id)
    with django_capture_on_commit_callbacks(execute=True):
        moved = client.post(
            uri + "redeploy/?reuse_volumes=true", {"node": str(other.uuid)}, format="json"
        )
    assert moved.status_code == 202, moved.content
    assert moved.json()["node"] == f"/api/infra/v1/acme/node/{other.uuid}/"
    assert moved.json()["private_ip"] == body["private_ip"]
    with django_capture_on_commit_callbacks(execute=True):
        ended = client.delete(uri)
    assert ended.status_code == 202 and ended.json()["state"] == "Terminating"
    names = [c[0] for c in queued]
    assert names == [
        "deploy_container", "stop_container", "start_container", "deploy_container",
        "terminate_container",
    ]  # fmt: skip
    assert queued[3][3:] == (container.node_id, "abc")  # the old node and id, to remove
    for name in ("Stop", "Start", "Redeploy", "Terminate"):
        assert Action.objects.filter(action=f"Container {name}", object_uuid=container.uuid)


def test_list_filters_and_lookup_as_the_cli_does(
    owner, nodes, queued, django_capture_on_commit_callbacks
):
    web = _run(owner, django_capture_on_commit_callbacks, name="web").json()
    _run(owner, django_capture_on_commit_callbacks, name="db")
    client = owner.client()
    with CaptureQueriesContext(connection) as two:
        listed = client.get(BASE).json()
    assert listed["meta"]["total_count"] == 2
    for name in ("c3", "c4", "c5"):
        _run(owner, django_capture_on_commit_callbacks, name=name)
    with CaptureQueriesContext(connection) as five:
        assert client.get(BASE).json()["meta"]["total_count"] == 5
    assert len(five) == len(two) <= 12  # no query per container
    # Without a namespace: the caller's own organization (alice's), which runs none.
    assert client.get("/api/app/v1/container/").json()["meta"]["total_count"] == 0
    by_name = client.get(BASE, {"name": "web"}).json()["objects"]
    assert [c["uuid"] for c in by_name] == [web["uuid"]]
    by_prefix = client.get(BASE, {"uuid__startswith": web["uuid"][:8]}).json()["objects"]
    assert [c["uuid"] for c in by_prefix] == [web["uuid"]]
    assert client.get(BASE, {"state": "Running"}).json()["objects"] == []
    assert client.get(BASE, {"service": "/api/app/v1/service/x/"}).json()["objects"] == []
    assert client.get(BASE, {"node": web["node"]}).json()["meta"]["total_count"] >= 1
    assert client.get(BASE, {"node": "nonsense"}).json()["objects"] == []
    assert client.get(f"{BASE}{web['uuid']}/").json()["name"] == "web"
    assert client.get("/api/app/v1/acme/stack/").json()["objects"] == []


def test_another_organization_gets_404_on_every_endpoint(
    owner, outsider, nodes, queued, django_capture_on_commit_callbacks
):
    body = _run(owner, django_capture_on_commit_callbacks, name="web").json()
    uri = body["resource_uri"]
    other = outsider.client()
    assert other.get(BASE).status_code == 404
    assert other.post(BASE, {"name": "x", "image": "y"}, format="json").status_code == 404
    for path in (uri, uri + "logs/"):
        assert other.get(path).status_code == 404
    for verb in ("start/", "stop/", "redeploy/"):
        assert other.post(uri + verb).status_code == 404
    assert other.delete(uri).status_code == 404
    # Through their own namespace, the container does not exist either.
    own_ns = f"/api/app/v1/globex/container/{body['uuid']}/"
    assert other.get(own_ns).status_code == 404
    assert other.delete(own_ns).status_code == 404
    assert other.get("/api/app/v1/globex/container/").json()["objects"] == []
    assert Container.objects.get(uuid=body["uuid"]).state == "Starting"


def test_read_only_callers_may_look_but_not_act(
    owner, readonly_member, nodes, queued, django_capture_on_commit_callbacks
):
    body = _run(owner, django_capture_on_commit_callbacks, name="web").json()
    uri = body["resource_uri"]
    for client in (readonly_member.client(), owner.client(make_key(owner.user, read_only=True))):
        assert client.get(uri).status_code == 200
        assert client.post(BASE, {"name": "x", "image": "y"}, format="json").status_code == 403
        for verb in ("start/", "stop/", "redeploy/"):
            assert client.post(uri + verb).status_code == 403
        assert client.delete(uri).status_code == 403
    assert len(queued) == 1


def test_a_node_that_ends_ends_its_containers_and_frees_their_addresses(
    owner, nodes, queued, django_capture_on_commit_callbacks
):
    body = _run(owner, django_capture_on_commit_callbacks, name="web").json()
    container = Container.objects.get(uuid=body["uuid"])
    node = Node.objects.get(pk=container.node_id)
    from accounts.audit import SYSTEM

    node_terminate_begin(actor=SYSTEM, node=node)
    assert node_forget_agent(node=node)
    container.refresh_from_db()
    assert container.state == "Terminated" and container.destroyed_datetime is not None
    assert not OverlayAddress.objects.filter(holder=container.uuid).exists()
    assert DockerEvent.objects.filter(type="container", action="delete").exists()
    containers_end_with_node(node)  # again: nothing left to end
    # Its node is Terminated, and still listed: `docker-cloud container ps` resolves it.
    listed = owner.client().get("/api/infra/v1/acme/node/").json()["objects"]
    assert body["node"] in [n["resource_uri"] for n in listed]
    # The name is free again.
    again = _run(owner, django_capture_on_commit_callbacks, name="web")
    assert again.status_code == 202, again.content


def test_container_changes_reach_the_docker_cloud_stream_under_the_api_uri(
    owner, nodes, queued, django_capture_on_commit_callbacks
):
    body = _run(owner, django_capture_on_commit_callbacks, name="web").json()
    Container.objects.filter(uuid=body["uuid"]).update(state="Running")
    with django_capture_on_commit_callbacks(execute=True):
        owner.client().post(body["resource_uri"] + "stop/")
    rows = DockerEvent.objects.select_related("organization", "node").filter(type="container")
    frames = [dockercloud_frame(stored_payload(e)) for e in rows.order_by("id")]
    assert [(f["action"], f["state"]) for f in frames] == [
        ("create", "Starting"),
        ("update", "Stopping"),
    ]
    assert {f["resource_uri"] for f in frames} == {body["resource_uri"]}
    assert all(f["parents"] == [body["node"]] for f in frames)
    # The daemon's own event of that container (an agent's, with its labels) says the same URI.
    daemon = stored_payload(rows.first())
    daemon |= {"seq": 7, "action": "die", "actor": "f" * 64}
    daemon["attributes"] = {"cloud.docker.container.uuid": body["uuid"], "name": "web"}
    assert dockercloud_frame(daemon)["resource_uri"] == body["resource_uri"]
