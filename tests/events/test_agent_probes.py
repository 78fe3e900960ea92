"""What a fake node can make the control plane do: probes of its daemon, and reads of its
daemon's answers. Each is bounded per node, whatever the node sends or answers."""

import asyncio

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from django.test import AsyncClient

from nodes import services as node_services
from nodes import tasks
from nodes.docker_client import MAX_ANSWER, MAX_PING_ANSWER
from nodes.models import Node
from nodes.transitions import liveness

from .conftest import run
from .fake_node import FakeDaemon, tunnelled_node
from .test_agent_channel import beat
from .test_ingest import connect_agent

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("layer")]
# What may sit between the node and the reader once it stops: the reply channel's messages, the
# relay's socket buffers.
IN_FLIGHT = 4 * 1024 * 1024


def in_a_worker_thread(function, *args):
    """Run `function` in a thread of its own, as a Celery worker's thread would."""

    def work():
        try:
            return function(*args)
        finally:
            connections.close_all()

    return sync_to_async(work, thread_sensitive=False)()


@pytest.mark.smoke
def test_a_fake_node_gets_one_probe_queued_however_often_it_asks(owner, probes):
    node, secret = tunnelled_node(owner)

    async def scenario():
        for _ in range(6):  # a reconnect loop, each connection saying hello and beating
            agent = await connect_agent(node, secret)
            await agent.receive_json_from()
            await agent.send_json_to({"type": "hello", "agent_version": "0.1.0"})
            for _ in range(3):
                await agent.send_json_to(beat())
            await agent.disconnect()

    run(scenario)
    assert probes == [node.pk]


@pytest.mark.smoke
def test_one_probe_runs_at_a_time_and_none_again_within_the_interval(owner, probes):
    node, secret = tunnelled_node(owner)

    async def scenario():
        agent = await connect_agent(node, secret)
        await agent.receive_json_from()
        daemon = FakeDaemon(agent)
        first = asyncio.ensure_future(in_a_worker_thread(tasks.probe_node, node.pk))
        stream = await daemon.open_stream()  # the first probe waits on this node now
        # A second worker takes a duplicate meanwhile: it leaves at once, without a stream.
        await asyncio.wait_for(in_a_worker_thread(tasks.probe_node, node.pk), 10)
        daemon._drain()
        assert daemon.opened == []
        request = await daemon.read_request(stream)
        assert request.startswith(b"GET /v1.41/_ping ")
        await daemon.answer(stream, b"OK")
        await asyncio.wait_for(first, 10)
        await agent.disconnect()

    run(scenario)
    assert Node.objects.get(pk=node.pk).connection == "tunnel"
    # The node asks again at once (a hello): not before DC_PROBE_INTERVAL.
    assert node_services.node_probe_request(node_id=node.pk, node_uuid=node.uuid) is False
    assert probes == []


def test_a_probe_reads_a_fake_daemons_ping_answer_only_up_to_its_cap(owner):
    node, secret = tunnelled_node(owner)

    async def scenario():
        agent = await connect_agent(node, secret)
        await agent.receive_json_from()
        daemon = FakeDaemon(agent)
        probe = asyncio.ensure_future(in_a_worker_thread(tasks.probe_node, node.pk))
        stream = await daemon.open_stream()
        await daemon.read_request(stream)
        cut = await daemon.answer_without_end(stream, give_up_after=8 * IN_FLIGHT)
        await asyncio.wait_for(probe, 20)
        await agent.disconnect()
        return cut, daemon.pushed

    cut, pushed = run(scenario)
    assert cut, f"the probe read {pushed} bytes of a ping's answer"
    assert pushed <= MAX_PING_ANSWER + IN_FLIGHT
    assert Node.objects.get(pk=node.pk).state == "Deploying"


def test_the_containers_page_reads_a_fake_daemons_answer_only_up_to_its_cap(owner):
    node, secret = tunnelled_node(owner)
    liveness.node_set_reached(node_id=node.pk, connection="tunnel")
    browser = AsyncClient()
    browser.force_login(owner.user)

    async def scenario():
        agent = await connect_agent(node, secret)
        await agent.receive_json_from()
        daemon = FakeDaemon(agent)
        page = asyncio.ensure_future(browser.get(f"/orgs/acme/nodes/{node.uuid}/containers/"))
        stream = await daemon.open_stream()
        request = await daemon.read_request(stream)
        assert request.startswith(b"GET /v1.41/containers/json?all=1 ")
        cut = await daemon.answer_without_end(stream, give_up_after=MAX_ANSWER + 8 * IN_FLIGHT)
        response = await asyncio.wait_for(page, 20)
        await agent.disconnect()
        return cut, daemon.pushed, response

    cut, pushed, response = run(scenario)
    assert cut, f"the page read {pushed} bytes of the daemon's answer"
    assert pushed <= MAX_ANSWER + IN_FLIGHT
    assert response.status_code == 200
    assert "did not answer (DaemonAnswerError)" in response.content.decode()
