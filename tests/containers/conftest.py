"""Deployed nodes of `acme` (registered as an agent would) and the tasks' queue recorded."""

import pytest

from accounts.audit import Actor
from nodes import services as node_services
from nodes.models import Node
from nodes.transitions import liveness

from ..nodes.test_registration import FACTS, make_csr


def deployed_node(person, *, tags=()) -> Node:
    _, token = node_services.registration_token_create(
        actor=Actor(user=person.user), organization=person.org
    )
    node = node_services.node_register(
        token=token, csr=make_csr(), facts=FACTS, remote_ip="10.250.0.9"
    )["node"]
    liveness.node_set_reached(node_id=node.pk, connection="direct")
    if tags:
        Node.objects.filter(pk=node.pk).update(tags=[{"name": t} for t in tags])
    node.refresh_from_db()
    return node


@pytest.fixture
def queued(monkeypatch):
    """The container tasks queued, as (task name, args), instead of run."""
    calls: list[tuple] = []
    for task in ("deploy_container", "start_container", "stop_container", "terminate_container"):
        monkeypatch.setattr(
            f"containers.tasks.{task}.delay", lambda *args, _t=task: calls.append((_t, *args))
        )
    return calls
