"""Why a node is Unreachable: set by the heartbeat sweep and by a failed health check, shown in
the API's node object, the portal's node page and list, and the node's update event; cleared
when the node is Deployed again."""

import socket
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.audit import Actor
from nodes import services as node_services
from nodes import tasks
from nodes.models import Action, DockerEvent, Node
from nodes.transitions import liveness

from .test_registration import FACTS, make_csr

pytestmark = pytest.mark.django_db


@pytest.fixture
def node(owner) -> Node:
    """A registered node of acme's, Deployed."""
    _, token = node_services.registration_token_create(
        actor=Actor(user=owner.user), organization=owner.org
    )
    node = node_services.node_register(
        token=token, csr=make_csr(), facts=FACTS, remote_ip="10.250.0.9"
    )["node"]
    liveness.node_set_reached(node_id=node.pk, connection="direct")
    return node


def _api_reason(person, node):
    response = person.client().get(f"/api/infra/v1/acme/node/{node.uuid}/")
    assert response.status_code == 200
    return response.json()["unreachable_reason"]


def _last_update(node) -> dict:
    event = DockerEvent.objects.filter(node=node, type="node", action="update").latest("pk")
    return event.attributes


def test_the_sweep_says_since_when_no_heartbeat_came_and_deployed_clears_it(client, owner, node):
    client.force_login(owner.user)
    seen = timezone.now() - timedelta(seconds=50)
    Node.objects.filter(pk=node.pk).update(last_seen=seen, unreachable_after=seen)
    assert liveness.nodes_sweep_unreachable() == [node.pk]

    reason = _api_reason(owner, node)
    assert reason.startswith("no heartbeat for 50 s, last seen at ")
    assert reason.endswith(seen.isoformat(timespec="seconds"))
    update = _last_update(node)
    assert update["state"] == "Unreachable" and update["reason"] == reason
    for page in (f"/orgs/acme/nodes/{node.uuid}/", "/orgs/acme/nodes/"):
        html = client.get(page).content.decode()
        assert f'data-node-reason="{node.uuid}">{reason}</span>' in html, page

    assert liveness.node_set_reached(node_id=node.pk, connection="direct")
    assert _api_reason(owner, node) is None
    assert Node.objects.get(pk=node.pk).unreachable_reason == ""
    assert _last_update(node)["state"] == "Deployed" and "reason" not in _last_update(node)
    html = client.get(f"/orgs/acme/nodes/{node.uuid}/").content.decode()
    assert f'data-node-reason="{node.uuid}"></span>' in html


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_failed_health_check_names_the_daemon_and_why(owner, node, monkeypatch):
    monkeypatch.setattr("nodes.tasks.health_check.delay", lambda *ids: None)
    port = _closed_port()
    monkeypatch.setattr("nodes.docker_client.DOCKER_PORT", port)
    Node.objects.filter(pk=node.pk).update(public_ip="127.0.0.1")
    response = owner.client().post(f"/api/infra/v1/acme/node/{node.uuid}/health-check/")
    assert response.status_code == 202
    action = Action.objects.get(uuid=response["X-DockerCloud-Action-URI"].split("/")[-2])
    tasks.health_check(node.pk, action.pk)

    reason = _api_reason(owner, node)
    assert reason == f"the daemon at 127.0.0.1:{port} did not answer: connection refused"
    assert _last_update(node)["reason"] == reason
    action.refresh_from_db()
    assert action.state == "Failed" and reason in action.error
