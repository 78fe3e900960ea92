"""A container that exits, or that its daemon restarts, follows in its state: from the nodes'
events as the agents deliver them (stored rows), by the beat task."""

import pytest
from django.core.cache import cache
from django.utils import timezone

from containers.models import Container
from containers.runtime import LABEL
from containers.tasks import SEEN_KEY, follow_daemon_events
from nodes.models import DockerEvent

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
