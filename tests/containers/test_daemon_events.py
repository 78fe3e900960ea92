"""A container's state follows what no verb did: its daemon's exits and restarts (the nodes'
events as the agents deliver them, stored rows, read by the beat task), and the reaper's end
of a run no worker finished."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from containers.models import Container
from containers.runtime import LABEL
from containers.tasks import DEPLOY_TIMEOUT, SEEN_KEY, follow_daemon_events
from nodes.models import Action, DockerEvent
from nodes.reaper import actions_reap
from nodes.transitions import actions

from .conftest import deployed_node

pytestmark = pytest.mark.django_db
DOCKER_ID = "a" * 64


@pytest.fixture
def running(owner) -> Container:
    node = deployed_node(owner)
    container = Container.objects.create(
        organization=owner.org, name="web", image="local/busybox:lab", node=node
    )
    Container.objects.filter(pk=container.pk).update(state="Running", docker_id=DOCKER_ID)
    container.refresh_from_db()
    return container


def _event(container, action: str, *, node=None, actor=DOCKER_ID, **attributes):
    node = node or container.node
    seq = DockerEvent.objects.filter(node=node).count() + 1
    return DockerEvent.objects.create(
        organization=container.organization,
        node=node,
        seq=seq,
        type="container",
        action=action,
        actor_id=actor,
        attributes={LABEL: str(container.uuid), "name": container.name, **attributes},
        time=timezone.now(),
    )


def test_an_exit_and_a_restart_by_the_daemon_show_in_the_state(owner, running):
    cache.delete(SEEN_KEY)
    _event(running, "die", exitCode="9")  # before the first pass: not replayed
    follow_daemon_events()
    running.refresh_from_db()
    assert running.state == "Running"

    other_node = deployed_node(owner)
    _event(running, "die", node=other_node, exitCode="1")  # another node cannot speak for it
    _event(running, "die", actor="b" * 64, exitCode="2")  # nor an old copy of it
    follow_daemon_events()
    running.refresh_from_db()
    assert running.state == "Running"

    _event(running, "die", exitCode="3")
    follow_daemon_events()
    running.refresh_from_db()
    assert running.state == "Stopped" and running.exit_code == 3
    assert running.stopped_datetime is not None
    assert DockerEvent.objects.filter(type="container", action="update", seq=None).exists()

    _event(running, "start")
    follow_daemon_events()
    running.refresh_from_db()
    assert running.state == "Running"
    follow_daemon_events()  # nothing new: nothing changes
    assert Container.objects.get(pk=running.pk).state == "Running"


def test_a_verb_in_flight_keeps_its_own_transition(running):
    cache.delete(SEEN_KEY)
    follow_daemon_events()
    Container.objects.filter(pk=running.pk).update(state="Terminating")
    _event(running, "die", exitCode="137")
    follow_daemon_events()
    assert Container.objects.get(pk=running.pk).state == "Terminating"


def test_a_run_no_worker_finished_fails_and_the_container_is_stopped(
    owner, running, queued, django_capture_on_commit_callbacks, time_machine
):
    with django_capture_on_commit_callbacks(execute=True):
        body = (
            owner.client()
            .post("/api/app/v1/acme/container/", {"name": "web2", "image": "x"}, format="json")
            .json()
        )
    run = Action.objects.get(action="Container Run")
    actions.action_start(action_id=run.pk, timeout=DEPLOY_TIMEOUT)  # a worker took it, and died
    assert actions_reap() == []
    time_machine.move_to(timezone.now() + timedelta(seconds=DEPLOY_TIMEOUT + 3600))
    assert actions_reap() == [str(run.uuid)]
    run.refresh_from_db()
    container = Container.objects.get(uuid=body["uuid"])
    assert run.state == "Failed" and "the container is Stopped" in run.error
    assert container.state == "Stopped" and "No worker" in container.error
