"""The reaper: an action no worker finished by its deadline fails with a message saying so, and
its node or cluster returns to a settled state. Verbs are started through the API; the worker
"dies" by never running (or by starting and never finishing); beat's task reaps."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.audit import Actor
from accounts.models import AuditEntry
from nodes import services as node_services
from nodes import tasks
from nodes.models import Action, Node, NodeCluster
from nodes.transitions import actions, liveness

from .test_registration import FACTS, make_csr

pytestmark = pytest.mark.django_db
LAB = {
    "region": "/api/infra/v1/region/local/local/",
    "node_type": "/api/infra/v1/nodetype/local/lab/",
}
BEAT = {"dockerd_running": True, "containers": {"total": 0}}


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


@pytest.fixture
def queued(monkeypatch):
    """Tasks the verbs queue, by name, as (ids): no worker runs them."""
    calls: dict[str, list] = {}
    for name in ("upgrade_docker", "terminate_node", "reconcile_cluster"):
        monkeypatch.setattr(
            f"nodes.tasks.{name}.delay", lambda *ids, n=name: calls.setdefault(n, []).append(ids)
        )
    return calls


def _verb(person, node, verb: str) -> Action:
    response = person.client().post(f"/api/infra/v1/acme/node/{node.uuid}/{verb}/")
    assert response.status_code == 202, response.content
    return Action.objects.get(uuid=response["X-DockerCloud-Action-URI"].split("/")[-2])


def _worker_starts_then_dies(action: Action, timeout: float) -> None:
    """What `_action_run` does first, before the process is killed."""
    assert actions.action_start(action_id=action.pk, timeout=timeout)


def test_an_upgrade_no_worker_finished_fails_and_the_node_returns_to_deployed(
    owner, node, queued, settings, time_machine, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        action = _verb(owner, node, "docker-upgrade")
    _worker_starts_then_dies(action, settings.DC_DOCKER_UPGRADE_TIMEOUT)
    assert Node.objects.get(pk=node.pk).state == "Upgrading"

    # A redelivered task before the deadline leaves it alone: it may still be running.
    tasks.upgrade_docker(*queued["upgrade_docker"][0])
    tasks.reap_actions()
    assert Action.objects.get(pk=action.pk).state == "In progress"

    deadline = settings.DC_DOCKER_UPGRADE_TIMEOUT + settings.DC_ACTION_GRACE
    time_machine.move_to(timezone.now() + timedelta(seconds=deadline + 1))
    liveness.node_heartbeat(node=node, beat=BEAT)  # the agent is fine; only the worker died
    tasks.reap_actions()

    action.refresh_from_db()
    assert action.state == "Failed" and action.end_date
    message = "No worker finished this in 16 minutes; the node was returned to Deployed."
    assert action.error == message and action.logs.endswith(message + "\n")
    assert Node.objects.get(pk=node.pk).state == "Deployed"
    reaped = AuditEntry.objects.get(action="action.reap")
    assert reaped.actor is None and reaped.object_id == str(action.uuid)
    # Redelivered after the reaper: nothing moves.
    tasks.upgrade_docker(*queued["upgrade_docker"][0])
    tasks.reap_actions()
    assert Action.objects.get(pk=action.pk).error == message
    assert AuditEntry.objects.filter(action="action.reap").count() == 1


def test_an_upgrade_whose_agent_went_silent_returns_the_node_unreachable(
    owner, node, queued, settings, time_machine
):
    action = _verb(owner, node, "docker-upgrade")
    _worker_starts_then_dies(action, settings.DC_DOCKER_UPGRADE_TIMEOUT)
    # Before the sweep flipped it: the reaper decides from the heartbeat deadline itself.
    Node.objects.filter(pk=node.pk).update(unreachable_after=timezone.now())
    time_machine.move_to(timezone.now() + timedelta(hours=1))
    tasks.reap_actions()
    assert Node.objects.get(pk=node.pk).state == "Unreachable"
    assert Action.objects.get(pk=action.pk).error.endswith(
        "the node was returned to Unreachable (its agent stopped heartbeating)."
    )


def test_a_worker_that_finishes_first_wins_over_the_reaper(owner, node, queued, time_machine):
    action = _verb(owner, node, "health-check")
    _worker_starts_then_dies(action, 10)
    time_machine.move_to(timezone.now() + timedelta(hours=1))
    actions.action_finish(action_id=action.pk, success=True)
    tasks.reap_actions()
    assert Action.objects.get(pk=action.pk).state == "Success"
    assert not AuditEntry.objects.filter(action="action.reap").exists()


def test_a_terminate_no_worker_finished_is_queued_again(
    owner, node, queued, time_machine, django_capture_on_commit_callbacks
):
    response = owner.client().delete(f"/api/infra/v1/acme/node/{node.uuid}/")
    assert response.status_code == 202
    action = Action.objects.get(action="Node Terminate")
    _worker_starts_then_dies(action, tasks.TERMINATE_TIMEOUT)
    time_machine.move_to(timezone.now() + timedelta(hours=1))
    with django_capture_on_commit_callbacks(execute=True):
        tasks.reap_actions()
    action.refresh_from_db()
    again = Action.objects.exclude(pk=action.pk).get(action="Node Terminate")
    assert action.state == "Failed" and str(again.uuid) in action.error
    assert "the node stays Terminating and its termination was queued again" in action.error
    assert again.state == "Pending" and not again.is_user_action
    assert again.object_uuid == node.uuid and again.object_uri == action.object_uri
    assert queued["terminate_node"][-1] == (node.pk, again.pk)
    assert Node.objects.get(pk=node.pk).state == "Terminating"


@pytest.mark.parametrize("deployed", [True, False])
def test_a_cluster_deploy_that_did_not_converge_fails_and_is_partly_deployed(
    owner, queued, time_machine, settings, deployed
):
    client = owner.client()
    created = client.post("/api/infra/v1/acme/nodecluster/", {"name": "web", **LAB}, format="json")
    uri = created.json()["resource_uri"]
    response = client.post(f"{uri}deploy/")
    assert response.status_code == 202
    cluster = NodeCluster.objects.get()
    if deployed:  # one node came up, the other never did
        Node.objects.create(organization=owner.org, node_cluster=cluster, state="Deployed")
    deploy = Action.objects.get(action="Node Cluster Deploy")
    time_machine.move_to(timezone.now() + timedelta(seconds=settings.DC_NODE_DEPLOY_TIMEOUT * 2))
    tasks.reap_actions()
    assert Action.objects.get(pk=deploy.pk).state == "In progress"  # not quite yet
    time_machine.move_to(timezone.now() + timedelta(seconds=settings.DC_ACTION_GRACE + 1))
    tasks.reap_actions()
    deploy.refresh_from_db()
    state = "Partly deployed" if deployed else "Deploying"
    assert deploy.state == "Failed"
    assert deploy.error == (
        f"The node cluster did not reach its target in 21 minutes; the node cluster is {state}."
    )
    assert NodeCluster.objects.get().state == state


def test_an_action_running_before_deadlines_existed_is_reaped_too(owner, time_machine):
    """The migration gave running actions one: `start_date` plus the longest bound."""
    from importlib import import_module

    from django.apps import apps

    action = actions.action_create(
        actor=Actor(user=owner.user), organization=owner.org, action="Node Upgrade Agent"
    )
    Action.objects.filter(pk=action.pk).update(state="In progress", start_date=timezone.now())
    migration = import_module("nodes.migrations.0007_action_deadline")
    migration.running_actions_get_a_deadline(apps, None)
    time_machine.move_to(timezone.now() + timedelta(minutes=61))
    tasks.reap_actions()
    action.refresh_from_db()
    assert action.state == "Failed"
    assert action.error == "No worker finished this in 60 minutes; nothing else was changed."
