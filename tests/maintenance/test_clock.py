"""Clock skew: estimated from round-trip probes over the agent's socket, and synced (with the
skew before and after, an event and an audit row, a flag when it stays skewed)."""

import asyncio
import time

import pytest
from asgiref.sync import sync_to_async
from django.db import connection

from accounts.models import AuditEntry
from maintenance import services
from maintenance.models import NodeMaintenance
from nodes.models import DockerEvent, Node
from nodes.transitions import liveness
from nodes.transitions.liveness import clock_skew
from tests.events.conftest import (
    agent_socket,
    layer,  # noqa: F401 (a fixture these socket tests use)
    receive_until,
    register_node,
    run,
)


def test_skew_takes_the_network_delay_out():
    # The node is 7 s ahead; 0.4 s each way; the heartbeat left 15 s after the probe came.
    t0 = 1000.0
    t1 = t0 + 0.4 + 7
    t2 = t1 + 15
    t3 = t2 - 7 + 0.4
    beat = {"time": t2, "clock": {"server_time": t0, "received": t1}}
    assert clock_skew(beat, t3) == pytest.approx(7.0)
    assert clock_skew({"time": t2}, t3) == pytest.approx(6.6)  # one way only: off by the delay


@pytest.mark.parametrize(
    "probe",
    [
        {"server_time": 1000.0 - 7200, "received": 1005.0},  # too old to be ours
        {"server_time": 1100.0, "received": 1005.0},  # from the future
        {"server_time": 990.0, "received": 1005.0},  # a round trip longer than plausible
        {"server_time": "x", "received": 1005.0},
        {"server_time": 999.0, "received": float("nan")},
    ],
)
def test_an_echo_that_cannot_be_ours_falls_back_to_one_way(probe):
    beat = {"time": 1030.0, "clock": probe}
    assert clock_skew(beat, 1002.0) == pytest.approx(28.0)
    assert clock_skew({"time": True}, 1002.0) is None
    assert clock_skew({"time": 1e300}, 1002.0) is None


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("layer")
def test_agent_that_answers_probes_gets_one_after_hello_and_each_heartbeat(owner):
    node, secret = register_node(owner)
    liveness.node_set_reached(node_id=node.pk, connection="direct")

    async def scenario():
        agent = agent_socket(node, secret)
        assert (await agent.connect())[0]
        await receive_until(agent, lambda f: f["type"] == "ack")
        await agent.send_json_to({"type": "hello", "features": ["clock_probe"]})
        probe, _ = await receive_until(agent, lambda f: f["type"] == "clock")
        t0 = probe["server_time"]
        await agent.send_json_to(
            {
                "type": "heartbeat",
                "time": t0 + 12.0,
                "clock": {"server_time": t0, "received": t0 + 12},
            }
        )
        again, _ = await receive_until(agent, lambda f: f["type"] == "clock")
        await agent.disconnect()
        return again

    assert run(scenario)["server_time"] > 0
    liveness.nodes_flush_liveness()  # as the next flush does
    node = Node.objects.get(pk=node.pk)
    assert node.clock_skew == pytest.approx(12.0, abs=0.5)
    assert node.last_metric["clock_skew"] == pytest.approx(12.0, abs=0.5)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("layer")
def test_an_older_agent_gets_no_probes(owner):
    node, secret = register_node(owner)

    async def scenario():
        agent = agent_socket(node, secret)
        assert (await agent.connect())[0]
        await receive_until(agent, lambda f: f["type"] == "ack")
        await agent.send_json_to({"type": "hello"})
        await agent.send_json_to({"type": "heartbeat", "time": 1.0})
        assert await agent.receive_nothing(timeout=0.5)
        await agent.disconnect()

    run(scenario)


def _sync_and_close(node) -> None:
    try:
        services.node_clock_sync(node=node)
    finally:
        connection.close()  # the worker thread's own connection


def _sync_with(owner, answer_after: float):
    """Run `node_clock_sync` against a fake agent whose clock is 3 s ahead until the sync
    command, then `answer_after` s ahead; return the node's maintenance row."""
    node, secret = register_node(owner)
    liveness.node_set_reached(node_id=node.pk, connection="direct")
    node = Node.objects.select_related("organization").get(pk=node.pk)

    async def scenario():
        agent = agent_socket(node, secret)
        assert (await agent.connect())[0]
        await receive_until(agent, lambda f: f["type"] == "ack")
        worker = sync_to_async(_sync_and_close, thread_sensitive=False)(node)
        running = asyncio.ensure_future(worker)
        offset, names = 3.0, []
        while len(names) < 3:
            command, _ = await receive_until(agent, lambda f: f.get("type") == "command")
            names.append(command["name"])
            data = {}
            if command["name"] == "ping":
                data = {"time": time.time() + offset}
            elif command["name"] == "sync_clock":
                offset = answer_after
                data = {"command": "chronyc -a makestep", "recorded": True}
            await agent.send_json_to(
                {"type": "result", "id": command["id"], "ok": True, "data": data}
            )
        await running
        await agent.disconnect()
        return names

    assert run(scenario) == ["ping", "sync_clock", "ping"]
    return node, NodeMaintenance.objects.get(node=node)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("layer")
def test_a_sync_records_the_skew_before_and_after_an_event_and_an_audit_row(owner):
    node, state = _sync_with(owner, answer_after=0.0)
    assert state.clock_skew_before == pytest.approx(3.0, abs=0.5)
    assert state.clock_skew_after == pytest.approx(0.0, abs=0.5)
    assert not state.clock_flagged
    event = DockerEvent.objects.get(node=node, attributes__maintenance="clock_sync")
    assert event.attributes["command"] == "chronyc -a makestep"
    assert event.attributes["skew_before"] == pytest.approx(3.0, abs=0.5)
    assert AuditEntry.objects.get(action="node.clock_sync").object_id == str(node.uuid)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("layer")
def test_a_node_still_skewed_after_the_sync_is_flagged_until_it_is_back(owner, settings):
    node, state = _sync_with(owner, answer_after=2.5)
    assert state.clock_flagged and state.clock_skew_after == pytest.approx(2.5, abs=0.5)
    settings.DC_CLOCK_SYNC_COOLDOWN = 600
    Node.objects.filter(pk=node.pk).update(clock_skew=2.5)
    assert services.clocks_due() == []  # synced a moment ago: not again yet
    Node.objects.filter(pk=node.pk).update(clock_skew=0.1)
    assert services.clocks_due() == []
    assert not NodeMaintenance.objects.get(node=node).clock_flagged


def test_a_skewed_node_is_claimed_once(owner, settings):
    settings.DC_CLOCK_SKEW_MAX = 1.0
    node, _ = register_node(owner)
    liveness.node_set_reached(node_id=node.pk, connection="direct")
    Node.objects.filter(pk=node.pk).update(clock_skew=-4.0)
    assert services.clocks_due() == [node.pk]
    assert services.clocks_due() == []  # claimed: the next check does not queue it again
    settings.DC_CLOCK_SYNC_COOLDOWN = 0
    assert services.clocks_due() == [node.pk]
