"""Node verbs over the API: who may call them, and a refused verb leaves no action behind."""

import pytest

from accounts.audit import Actor
from nodes import services as node_services
from nodes.models import Action, Node
from nodes.transitions import liveness

from .test_registration import FACTS, make_csr

pytestmark = pytest.mark.django_db
VERBS = {
    "docker-upgrade": ("upgrade_docker", "Node Upgrade Docker"),
    "agent-upgrade": ("upgrade_agent", "Node Upgrade Agent"),
    "health-check": ("health_check", "Node Health Check"),
}


@pytest.fixture
def node(owner) -> Node:
    _, token = node_services.registration_token_create(
        actor=Actor(user=owner.user), organization=owner.org
    )
    node = node_services.node_register(
        token=token, csr=make_csr(), facts=FACTS, remote_ip="10.250.0.9"
    )["node"]
    liveness.node_set_reached(node_id=node.pk, connection="direct")
    node.refresh_from_db()
    return node


@pytest.mark.parametrize("verb", sorted(VERBS))
def test_node_verbs_queue_their_task_for_writers_only(
    owner, writer, readonly_member, outsider, node, monkeypatch,
    django_capture_on_commit_callbacks, verb,
):  # fmt: skip
    task, name = VERBS[verb]
    calls = []
    monkeypatch.setattr(f"nodes.tasks.{task}.delay", lambda *ids: calls.append(ids))
    uri = f"/api/infra/v1/acme/node/{node.uuid}/{verb}/"
    assert outsider.client().post(uri).status_code == 404
    assert (
        outsider.client().post(f"/api/infra/v1/globex/node/{node.uuid}/{verb}/").status_code == 404
    )
    assert readonly_member.client().post(uri).status_code == 403
    with django_capture_on_commit_callbacks(execute=True):
        response = writer.client().post(uri)
    assert response.status_code == 202, response.content
    action = Action.objects.get(action=name)
    assert response["X-DockerCloud-Action-URI"] == f"/api/audit/v1/action/{action.uuid}/"
    assert calls == [(node.pk, action.pk)]


@pytest.mark.parametrize("verb", sorted(VERBS))
def test_a_refused_verb_is_a_400_and_leaves_no_action(owner, node, monkeypatch, verb):
    task, name = VERBS[verb]
    monkeypatch.setattr(f"nodes.tasks.{task}.delay", lambda *ids: pytest.fail("queued"))
    Node.objects.filter(pk=node.pk).update(state="Deploying")
    response = owner.client().post(f"/api/infra/v1/acme/node/{node.uuid}/{verb}/")
    assert response.status_code == 400
    assert "Deploying" in str(response.json()["fields"]["state"])
    assert not Action.objects.filter(action=name).exists()
