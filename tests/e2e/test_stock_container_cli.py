"""The stock docker-cloud CLI (1.0.9, unmodified, Python 2.7) on containers, against a live
control plane: `container ps` lists them (a terminated node's included), `inspect` shows one,
`stop` records its Action."""

import json

import pytest

from accounts import services
from accounts.audit import SYSTEM, Actor
from containers.models import Container
from nodes.models import Action
from nodes.transitions.nodes import node_forget_agent, node_terminate_begin
from overlay.addresses import address_allocate, address_release
from tests.conftest import PASSWORD, Person

from ..containers.conftest import deployed_node
from .conftest import wait_for
from .stock_clients import StockClients

pytestmark = [pytest.mark.lab, pytest.mark.slow]


def _container(org, node, name: str, state: str) -> Container:
    container = Container.objects.create(
        organization=org, name=name, image="local/busybox:lab", run_command="sleep 3600", node=node
    )
    ip = address_allocate(organization=org, holder=container.uuid)
    Container.objects.filter(pk=container.pk).update(private_ip=ip, state=state, docker_id="f" * 64)
    container.refresh_from_db()
    return container


def test_stock_cli_lists_inspects_stops_and_terminates_containers(
    control_plane, stock_clients_dir, tmp_path
):
    user = services.user_signup(username="ops", email="ops@acme.test", password=PASSWORD)
    org = services.organization_create(actor=Actor(user=user), name="acme")
    _, key = services.apikey_create(actor=Actor(user=user), user=user, label="cli")
    py27, target = stock_clients_dir
    clients = StockClients(py27, target, control_plane.url, "ops", key, tmp_path)
    person = Person(user=user, org=org, key=key)
    live, gone = deployed_node(person), deployed_node(person)
    web = _container(org, live, "web", "Running")
    _container(org, gone, "old", "Running")
    node_terminate_begin(actor=SYSTEM, node=gone)
    node_forget_agent(node=gone)  # its containers end with it: still listed, as Terminated

    listing = clients.cli("container", "ps", namespace="acme").stdout
    rows = {line.split()[0]: line for line in listing.splitlines()[1:] if line.strip()}
    assert set(rows) == {"web", "old"}, listing
    assert str(web.uuid)[:8] in rows["web"] and "Running" in rows["web"]
    assert str(live.uuid)[:8] in rows["web"] and "local/busybox:lab" in rows["web"]
    assert "Terminated" in rows["old"] and str(gone.uuid)[:8] in rows["old"]

    inspected = json.loads(clients.cli("container", "inspect", "web", namespace="acme").stdout)
    assert inspected["uuid"] == str(web.uuid) and inspected["private_ip"] == web.private_ip
    assert inspected["node"] == f"/api/infra/v1/acme/node/{live.uuid}/"

    stopped = clients.cli("container", "stop", str(web.uuid)[:8], namespace="acme").stdout
    assert str(web.uuid) in stopped
    assert Action.objects.filter(action="Container Stop", object_uuid=web.uuid).exists()

    # The node is a registration without a daemon: the stop fails, and says why.
    stop = wait_for(
        lambda: Action.objects.filter(action="Container Stop", state="Failed").first(),
        timeout=30,
        message="the stop to fail on a node without a daemon",
    )
    assert "web" in stop.error and "Docker" in stop.error, stop.error
    assert Container.objects.get(pk=web.pk).state == "Running"
    address_release(organization=org, holder=web.uuid)
