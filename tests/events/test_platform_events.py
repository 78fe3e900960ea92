"""Every create, update and delete of a node cluster or node reaches the Docker Cloud event
stream (`/api/audit/v1/[ns/]events`) within a second, as Docker Cloud sent it: from the one
place that writes them (nodes.transitions)."""

import asyncio
import time

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async

from accounts.models import AuditEntry
from nodes import tasks
from nodes.models import Action, DockerEvent, Node
from nodes.transitions import liveness

from .conftest import agent_socket, api_socket, receive_until, register_node, run
from .test_dockercloud_stream import DATETIME, basic

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("layer")]
FRAME = {"type", "action", "parents", "resource_uri", "state", "uuid", "datetime"}
LAB = {
    "region": "/api/infra/v1/region/local/local/",
    "node_type": "/api/infra/v1/nodetype/local/lab/",
}


def of_type(kind: str):
    return lambda frame: frame["type"] == kind


async def frame_within(socket, kind: str, seconds: float = 1.0):
    """The next frame of `kind` (skipping others, as action frames), within `seconds`."""
    started = time.monotonic()
    frame, _ = await receive_until(socket, of_type(kind), timeout=seconds, what=f"a {kind} frame")
    return frame, time.monotonic() - started


def test_creating_a_cluster_and_changing_it_stream_nodecluster_frames(owner, outsider):
    """The stock CLI's `docker-cloud event` saw a cluster appear (Init) and change (tags, its
    target) within a second; another organization's stream sees none of it."""
    client = owner.client()

    async def scenario():
        namespaced = api_socket("/api/audit/v1/acme/events", basic("alice", owner.key))
        stranger = api_socket("/api/audit/v1/events", basic("carol", outsider.key))
        for socket in (namespaced, stranger):
            assert (await socket.connect())[0]
        created = await database_sync_to_async(client.post)(
            "/api/infra/v1/acme/nodecluster/", {"name": "web", **LAB}, format="json"
        )
        assert created.status_code == 201, created.content
        uri = created.json()["resource_uri"]
        frames = [await frame_within(namespaced, "nodecluster")]
        for body in ({"tags": [{"name": "db"}]}, {"target_num_nodes": 3}):
            changed = await database_sync_to_async(client.patch)(uri, body, format="json")
            assert changed.status_code == 202, changed.content
            frames.append(await frame_within(namespaced, "nodecluster"))
        assert await stranger.receive_nothing(timeout=0.2)
        return uri, frames

    uri, frames = run(scenario)
    (create, t1), (tagged, t2), (scaled, t3) = frames
    assert set(create) == FRAME and DATETIME.match(create["datetime"])
    assert {k: create[k] for k in ("type", "action", "state", "resource_uri", "parents")} == {
        "type": "nodecluster", "action": "create", "state": "Init", "resource_uri": uri,
        "parents": [],
    }  # fmt: skip
    assert (tagged["action"], tagged["state"], tagged["resource_uri"]) == ("update", "Init", uri)
    assert (scaled["action"], scaled["state"], scaled["resource_uri"]) == ("update", "Init", uri)
    assert max(t1, t2, t3) < 1.0


def test_renaming_and_tagging_a_node_streams_a_node_update(owner):
    node, _ = register_node(owner)
    liveness.node_set_reached(node_id=node.pk, connection="direct")
    uri = f"/api/infra/v1/acme/node/{node.uuid}/"

    async def scenario():
        stream = api_socket("/api/audit/v1/acme/events", basic("alice", owner.key))
        assert (await stream.connect())[0]
        patch = database_sync_to_async(owner.client().patch)
        response = await patch(uri, {"nickname": "front", "tags": [{"name": "x"}]}, format="json")
        assert response.status_code == 202, response.content
        return await frame_within(stream, "node")

    frame, took = run(scenario)
    assert (frame["action"], frame["state"], frame["resource_uri"]) == ("update", "Deployed", uri)
    assert took < 1.0
    assert AuditEntry.objects.filter(action="node.update").count() == 1


def test_a_users_terminate_is_one_audit_row_and_streams_terminating_then_delete(owner, monkeypatch):
    """DELETE on a BYO node: the task deregisters its (fake) agent and ends it. One
    `node.terminate` row, by the user; the stream sees Terminating, then the delete."""
    node, secret = register_node(owner)
    liveness.node_set_reached(node_id=node.pk, connection="direct")
    queued = []
    monkeypatch.setattr("nodes.tasks.terminate_node.delay", lambda *ids: queued.append(ids))
    uri = f"/api/infra/v1/acme/node/{node.uuid}/"

    async def scenario():
        stream = api_socket("/api/audit/v1/acme/events", basic("alice", owner.key))
        agent = agent_socket(node, secret)
        for socket in (stream, agent):
            assert (await socket.connect())[0]
        await receive_until(agent, lambda f: f["type"] == "ack")
        response = await database_sync_to_async(owner.client().delete)(uri)
        assert response.status_code == 202, response.content
        terminating, _ = await frame_within(stream, "node")
        # The worker's part (a thread of its own): the agent is told to deregister, and answers.
        worker = sync_to_async(tasks.terminate_node, thread_sensitive=False)(*queued[0])
        running = asyncio.ensure_future(worker)
        command, _ = await receive_until(agent, lambda f: f.get("type") == "command", timeout=3)
        assert command["name"] == "deregister"
        await agent.send_json_to({"type": "result", "id": command["id"], "ok": True, "data": {}})
        await running
        deleted, _ = await frame_within(stream, "node")
        return terminating, deleted

    terminating, deleted = run(scenario)
    assert (terminating["action"], terminating["state"]) == ("update", "Terminating")
    assert (deleted["action"], deleted["state"]) == ("delete", "Terminated")
    rows = AuditEntry.objects.filter(action="node.terminate")
    assert [(r.actor_id, r.object_id) for r in rows] == [(owner.user.pk, str(node.uuid))]
    assert Node.objects.get(pk=node.pk).state == "Terminated"
    assert Action.objects.get(action="Node Terminate").state == "Success"


def test_heartbeats_that_change_no_state_write_no_event_and_no_audit_row(owner):
    """The hot path: thousands of agents beat every few seconds."""
    node, secret = register_node(owner)
    liveness.node_set_reached(node_id=node.pk, connection="direct")
    events, rows = DockerEvent.objects.count(), AuditEntry.objects.count()

    async def scenario():
        stream = api_socket("/api/audit/v1/acme/events", basic("alice", owner.key))
        agent = agent_socket(node, secret)
        for socket in (stream, agent):
            assert (await socket.connect())[0]
        await receive_until(agent, lambda f: f["type"] == "ack")
        for n in range(3):
            beat = {"type": "heartbeat", "time": time.time(), "load": [0.1 * n, 0, 0]}
            await agent.send_json_to(beat | {"dockerd_running": True})

        def flushed_load():
            liveness.nodes_flush_liveness()  # as the next flush does
            return (Node.objects.get(pk=node.pk).last_metric.get("load") or [None])[0]

        seen = database_sync_to_async(flushed_load)
        deadline = time.monotonic() + 3
        while await seen() != 0.2:
            assert time.monotonic() < deadline, "the heartbeats were not stored"
            await asyncio.sleep(0.05)
        assert await stream.receive_nothing(timeout=0.3)

    run(scenario)
    assert DockerEvent.objects.count() == events and AuditEntry.objects.count() == rows
    assert Node.objects.get(pk=node.pk).state == "Deployed"
