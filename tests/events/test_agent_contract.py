"""The real agent's messages (built by its own code, agent/dockercloud_agent) pass the channel's
bounds with room to spare: a long backlog of events, fat label-laden ones included, its hello
and heartbeats, a full tunnel piece and a full command result."""

import base64
import json
import os
import sys
import uuid
from pathlib import Path

import pytest

from agentapi import limits
from nodes.models import DockerEvent
from nodes.transitions import liveness

from .conftest import receive_until, register_node, run
from .test_ingest import connect_agent

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "agent"))
from dockercloud_agent import __version__, facts  # noqa: E402 (the agent's own package)
from dockercloud_agent.commands import _clip  # noqa: E402
from dockercloud_agent.events import SEND_BATCH, EventBuffer, normalize  # noqa: E402
from dockercloud_agent.tunnel import PIECE  # noqa: E402
from dockercloud_agent.wire import wire_batch  # noqa: E402

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("layer"),
    pytest.mark.slow,
]
BACKLOG = 24000  # past the events' burst: the last ones are paced, not refused
FAT = 1000  # of them with the labels of a compose project and an OCI image


def daemon_event(n: int) -> dict:
    """An event as dockerd reports it."""
    attributes = {"name": f"web-{n}", "image": "nginx:1.25"}
    if n % (BACKLOG // FAT) == 0:
        attributes |= {f"com.docker.compose.label{i}": "é" * 120 for i in range(40)}
        attributes["org.opencontainers.image.description"] = "An image. " * 90
    return {
        "Type": "container",
        "Action": "start",
        "Actor": {"ID": f"{n:064x}", "Attributes": attributes},
        "scope": "local",
        "timeNano": 1_700_000_000_000_000_000 + n,
    }


def backlog_messages(tmp_path) -> list[dict]:
    """The event messages the agent's shipper sends for a backlog, from its on-disk buffer."""
    buffer = EventBuffer(str(tmp_path), max_events=BACKLOG * 2)
    for n in range(1, BACKLOG + 1):
        buffer.append(normalize(daemon_event(n)))
    messages, start = [], 1
    while records := wire_batch(buffer.read(start, SEND_BATCH)):
        messages.append({"type": "event", "events": records})
        start = records[-1]["seq"] + 1
    buffer.close()
    return messages


def test_the_agents_own_messages_pass_the_bounds(owner, probes, tmp_path):
    node, secret = register_node(owner)
    events = backlog_messages(tmp_path)
    hello = {
        "type": "hello",
        "node_uuid": str(node.uuid),
        "agent_version": __version__,
        "docker_version": "24.0.7",
        "facts": facts.host_facts(str(tmp_path)),
    }
    heartbeat = {"type": "heartbeat", "time": 1_700_000_000.0, **facts.metrics(str(tmp_path))}
    heartbeat |= {"containers": {"running": 3, "total": 5}, "docker_version": "24.0.7"}
    heartbeat["dockerd_running"] = True
    texts = [json.dumps(m, separators=(",", ":")) for m in events]
    assert max(map(len, texts)) <= 600 * 1024  # the bound is 4 MiB
    # The largest tunnel piece and command result the agent can send.
    piece = base64.b64encode(os.urandom(PIECE)).decode()
    limits.decode(json.dumps({"type": "tunnel_data", "id": uuid.uuid4().hex, "data": piece}))
    output = _clip("\U0001f600" * 100_000)
    result = {"type": "result", "id": str(uuid.uuid4()), "ok": False, "output": output}
    result |= {"error": "x" * 4096, "data": {"restarted_containers": ["a" * 64] * 500}}
    limits.decode(json.dumps(result))

    async def scenario():
        agent = await connect_agent(node, secret)
        assert await agent.receive_json_from() == {"type": "ack", "seq": 0}
        await agent.send_json_to(hello)
        await agent.send_json_to(heartbeat)
        for text in texts:
            await agent.send_to(text)
        await agent.send_json_to(heartbeat)
        await receive_until(
            agent, lambda f: f == {"type": "ack", "seq": BACKLOG}, timeout=60, what="the last ack"
        )
        await agent.disconnect()

    run(scenario)
    assert DockerEvent.objects.filter(node=node).exclude(seq=None).count() == BACKLOG
    liveness.nodes_flush_liveness()  # as the next flush does
    node.refresh_from_db()
    assert node.last_metric["memory"]["total_mb"] > 0 and node.current_num_containers == 5
