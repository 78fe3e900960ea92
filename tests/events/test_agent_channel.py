"""The agent's control channel as a fake node speaks it (registration is self-service: any
tenant can have one). Past a bound its socket is closed with a reason; within them, nothing it
sends costs the control plane more than a real agent does."""

import json

import pytest
from channels.db import database_sync_to_async

from nodes.models import DockerEvent, Node
from nodes.transitions import liveness
from nodes.transitions.nodes import node_forget_agent

from .conftest import receive_until, register_node, run
from .test_ingest import connect_agent, item

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("layer")]
KIB = 1024


async def closed_with(agent, *, timeout: float = 3) -> tuple[str, int]:
    """The reason the server gave, and its close code."""
    frame, _ = await receive_until(
        agent, lambda f: f["type"] == "close", timeout=timeout, what="the socket to be closed"
    )
    return frame["reason"], await agent.receive_close(timeout)


def beat(**extra) -> dict:
    """A heartbeat as the agent sends it."""
    return {
        "type": "heartbeat",
        "time": 1_700_000_000.5,
        "load": [0.5, 0.25, 0.1],
        "memory": {"total_mb": 2048, "available_mb": 1024},
        "disk": {"total_gb": 40.0, "free_gb": 30.5},
        "containers": {"running": 1, "total": 3},
        "docker_version": "24.0.7",
        "dockerd_running": True,
        **extra,
    }


def refusal(node, secret, *frames: dict | str | bytes) -> tuple[str, int]:
    """Send `frames` as the node's agent; the reason and code of the close that follows."""

    async def scenario():
        agent = await connect_agent(node, secret)
        await agent.receive_json_from()  # ack
        for frame in frames:
            if isinstance(frame, bytes):
                await agent.send_input({"type": "websocket.receive", "bytes": frame})
            else:
                await agent.send_to(frame if isinstance(frame, str) else json.dumps(frame))
        return await closed_with(agent)

    return run(scenario)


TOO_LARGE = {
    "heartbeat": beat(pad="x" * (16 * KIB)),
    "hello": {"type": "hello", "facts": {"pad": "x" * (64 * KIB)}},
    "result": {"type": "result", "id": "c1", "output": "x" * (1024 * KIB)},
    "tunnel_opened": {"type": "tunnel_opened", "id": "x" * (2 * KIB)},
    "tunnel_data": {"type": "tunnel_data", "id": "s1", "data": "QUJD" * (16 * KIB)},
    "tunnel_close": {"type": "tunnel_close", "id": "s1", "error": "x" * (4 * KIB)},
    "an unknown type": {"type": "gossip", "text": "x" * (4 * KIB)},
    "event": {"type": "event", "events": [item(1, pad="x" * (4 * 1024 * KIB))]},
}


@pytest.mark.parametrize("message", TOO_LARGE.values(), ids=TOO_LARGE.keys())
def test_a_message_past_its_size_bound_closes_the_socket_with_a_reason(owner, probes, message):
    node, secret = register_node(owner)
    reason, code = refusal(node, secret, message)
    assert "message too large" in reason and code == 4400
    node.refresh_from_db()
    assert node.last_metric == {} and node.last_seen is None  # nothing of it was recorded


def _nested(depth: int):
    value = "x"
    for _ in range(depth):
        value = {"a": value}
    return value


MALFORMED = {
    "not JSON": "{'type': 'heartbeat'}",
    "not an object": "[1, 2]",
    "no type": {"time": 1},
    "binary": b'{"type": "heartbeat"}',
    "NaN": '{"type": "heartbeat", "time": NaN}',
    "Infinity": '{"type": "heartbeat", "load": [Infinity]}',
    "nested too deep": beat(memory=_nested(20)),
    "nested past the parser": '{"type": "heartbeat", "x": ' + "[" * 100000 + "]" * 100000 + "}",
    "NUL": beat(docker_version="24\x00"),
    "unpaired surrogate": {"type": "hello", "agent_version": "1.0\ud800"},
    "events not a list": {"type": "event", "events": {"seq": 1}},
    "too many events": {"type": "event", "events": [item(s) for s in range(1, 1002)]},
}


@pytest.mark.parametrize("message", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_message_closes_the_socket_with_a_reason(owner, message):
    node, secret = register_node(owner)
    reason, code = refusal(node, secret, message)
    assert code == 4400 and (reason.startswith("malformed message") or "event message" in reason)
    assert not DockerEvent.objects.filter(node=node).exclude(seq=None).exists()


@pytest.mark.parametrize("kind", ["hello", "heartbeat", "gossip"])
def test_messages_past_their_rate_close_the_socket(owner, probes, kind):
    node, secret = register_node(owner)
    reason, code = refusal(node, secret, *[beat(type=kind) for _ in range(40)])
    assert reason == f"rate limit: too many {kind} messages" and code == 4429


def test_a_heartbeat_keeps_only_the_metrics_shape(owner):
    """The node's page and the API show `last_metric`: an agent gets no other say in it."""
    node, secret = register_node(owner)
    junk = beat(
        load=[1.5, 2, 3, 4, 5, "x" * 2000],
        memory={"total_mb": 2048, "available_mb": 1e300, "notes": "x" * 4000},
        disk={"total_gb": "x" * 3000, "free_gb": -4},
        dockerd_running="yes",
        containers={"total": 2**40},
        docker_version="d" * 500,
        time=1e308,
        extra={"a": ["x" * 1000] * 5},
    )

    async def scenario():
        agent = await connect_agent(node, secret)
        await agent.receive_json_from()
        await agent.send_json_to(junk)
        await agent.send_json_to({"type": "gossip"})  # handled in order: the beat is recorded
        await agent.disconnect()

    run(scenario)
    liveness.nodes_flush_liveness()  # as the next flush does
    node.refresh_from_db()
    assert node.last_metric == {
        "load": [1.5, 2, 3],
        "memory": {"total_mb": 2048, "available_mb": None},
        "disk": {"total_gb": None, "free_gb": None},
        "dockerd_running": None,
    }
    assert node.current_num_containers == 2**31 - 1 and node.docker_version == "d" * 64
    response = owner.client().get(f"/api/infra/v1/acme/node/{node.uuid}/")
    assert response.json()["last_metric"] == node.last_metric


def test_results_reach_the_waiting_task_typed(owner):
    """A command's result is read by a task (upgrades): whatever the agent puts in it, the task
    gets the documented types."""
    from channels.layers import get_channel_layer

    from realtime.groups import agent_group

    node, secret = register_node(owner)

    async def scenario():
        layer = get_channel_layer()
        agent = await connect_agent(node, secret)
        await agent.receive_json_from()
        reply = await layer.new_channel()
        command = {"type": "agent.command", "id": "c1", "name": "ping", "args": {}}
        await layer.group_send(agent_group(node.uuid), command | {"reply": reply})
        assert (await agent.receive_json_from())["id"] == "c1"
        await agent.send_json_to(
            {"type": "result", "id": "c1", "ok": "yes", "output": ["x"], "error": 5, "data": [1]}
        )
        message = await layer.receive(reply)
        await agent.disconnect()
        return message["result"]

    assert run(scenario) == {"ok": False, "output": "", "error": "", "data": {}}


@pytest.mark.smoke
def test_terminating_a_node_closes_its_agent_socket_at_once(owner, outsider):
    """The node's socket was authenticated before: termination closes it, from whatever process
    terminates, in whatever process holds it (its group `agent.<uuid>`)."""
    node, secret = register_node(owner)
    other, other_secret = register_node(outsider, "other-1")

    async def scenario():
        agent = await connect_agent(node, secret)
        bystander = await connect_agent(other, other_secret)
        await agent.receive_json_from()
        await bystander.receive_json_from()
        await agent.send_json_to({"type": "event", "events": [item(1)]})
        await receive_until(agent, lambda f: f == {"type": "ack", "seq": 1})
        await database_sync_to_async(node_forget_agent)(node=node)
        reason, code = await closed_with(agent, timeout=1)
        # The other tenant's agent goes on.
        await bystander.send_json_to({"type": "event", "events": [item(1)]})
        await receive_until(bystander, lambda f: f == {"type": "ack", "seq": 1})
        await bystander.disconnect()
        return reason, code

    assert run(scenario) == ("deregistered", 4410)
    assert Node.objects.get(pk=node.pk).state == "Terminated"
