"""Agents' events: stored once by (node, seq), acknowledged in batches, sent to the pages."""

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from nodes.events.services import NodeContext, agent_event_row, agent_events_store
from nodes.models import DockerEvent

from .conftest import (
    agent_socket,
    browser_socket,
    receive_until,
    register_node,
    run,
    session_cookie,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("layer")]


def item(seq: int, action: str = "start", **extra) -> dict:
    return {
        "seq": seq,
        "type": "container",
        "action": action,
        "actor": {"id": f"c{seq:03d}", "attributes": {"name": f"web-{seq}", "image": "busybox"}},
        "scope": "local",
        "time_nano": 1_700_000_000_000_000_000 + seq,
        **extra,
    }


async def connect_agent(node, secret):
    agent = agent_socket(node, secret)
    connected, _ = await agent.connect()
    assert connected
    config = await agent.receive_json_from()
    assert config["type"] == "config"
    return agent


@database_sync_to_async
def stored(node) -> list[tuple[int, str, str]]:
    rows = DockerEvent.objects.filter(node=node, seq__isnull=False).order_by("seq")
    return list(rows.values_list("seq", "action", "actor_id"))


@pytest.mark.smoke
def test_events_are_stored_once_acked_and_resumed_after_a_reconnect(owner):
    node, secret = register_node(owner)

    async def scenario():
        agent = await connect_agent(node, secret)
        assert await agent.receive_json_from() == {"type": "ack", "seq": 0}  # nothing stored
        await agent.send_json_to({"type": "event", "events": [item(s) for s in (1, 2, 3)]})
        assert await agent.receive_json_from() == {"type": "ack", "seq": 3}
        # A replay overlapping what is stored, a malformed item, and new ones.
        batch = [item(2), item(3), {"seq": "x"}, {"type": "container"}, item(4), item(5, "die")]
        await agent.send_json_to({"type": "event", "events": batch})
        assert await agent.receive_json_from() == {"type": "ack", "seq": 5}
        await agent.send_json_to({"type": "event", "events": [item(6, "destroy")]})
        assert await agent.receive_json_from() == {"type": "ack", "seq": 6}
        await agent.disconnect()

        again = await connect_agent(node, secret)
        assert await again.receive_json_from() == {"type": "ack", "seq": 6}  # where to resume
        await again.disconnect()
        assert await stored(node) == [
            (1, "start", "c001"),
            (2, "start", "c002"),
            (3, "start", "c003"),
            (4, "start", "c004"),
            (5, "die", "c005"),
            (6, "destroy", "c006"),
        ]

    run(scenario)
    row = DockerEvent.objects.get(node=node, seq=5)
    assert row.organization == owner.org and row.type == "container"
    assert row.attributes == {"name": "web-5", "image": "busybox"}
    assert row.time.timestamp() == pytest.approx(1_700_000_000.000000005)


def test_gap_events_are_kept_with_their_counts(owner):
    node, secret = register_node(owner)
    gap = {
        "seq": 9,
        "type": "gap",
        "action": "dropped",
        "gap": {"dropped": 7, "first_seq": 1, "last_seq": 8},
    }

    async def scenario():
        agent = await connect_agent(node, secret)
        await agent.receive_json_from()
        await agent.send_json_to({"type": "event", "events": [gap]})
        assert await agent.receive_json_from() == {"type": "ack", "seq": 9}
        await agent.disconnect()

    run(scenario)
    row = DockerEvent.objects.get(node=node, seq=9)
    assert (row.type, row.attributes) == ("gap", {"dropped": 7, "first_seq": 1, "last_seq": 8})


def test_pages_get_each_new_event_once_with_its_id(owner):
    node, secret = register_node(owner)
    cookie = session_cookie(owner.user)

    async def scenario():
        browser = browser_socket(cookie)
        assert (await browser.connect())[0]
        await browser.send_json_to({"type": "subscribe", "org": "acme", "node": str(node.uuid)})
        subscribed = await browser.receive_json_from()
        assert subscribed["type"] == "subscribed" and subscribed["node"] == str(node.uuid)
        await receive_until(browser, lambda f: f["type"] == "events")  # the registration
        agent = await connect_agent(node, secret)
        await agent.receive_json_from()
        await agent.send_json_to({"type": "event", "events": [item(1), item(2)]})
        frame, _ = await receive_until(browser, lambda f: f["type"] == "events")
        await agent.receive_json_from()
        await agent.send_json_to({"type": "event", "events": [item(1), item(2), item(3)]})
        again, _ = await receive_until(browser, lambda f: f["type"] == "events")
        await agent.disconnect()
        await browser.disconnect()
        return frame, again

    frame, again = run(scenario)
    assert [e["seq"] for e in frame["events"]] == [1, 2]
    assert [e["seq"] for e in again["events"]] == [3]  # the replayed 1 and 2 are not resent
    first = frame["events"][0]
    assert first["id"] == DockerEvent.objects.get(node=node, seq=1).pk
    assert first["org"] == "acme" and first["node"] == str(node.uuid)
    assert first["node_name"] == "web-1" and first["time"] == "2023-11-14T22:13:20.000000Z"
    assert set(first) == {
        "id", "uuid", "org", "node", "node_name", "seq", "time", "type", "action", "actor",
        "attributes",
    }  # fmt: skip


def test_a_batch_racing_another_connection_stores_only_the_new_rows(owner):
    """Two connections of one node (an old socket not yet timed out) can hand over the same
    seqs: the insert falls back to skipping (node, seq) conflicts."""
    node, _ = register_node(owner)
    node = type(node).objects.select_related("organization").get(pk=node.pk)
    ctx, now = NodeContext.of(node), timezone.now()
    first = [agent_event_row(ctx, item(s), now) for s in (1, 2, 3)]
    assert set(agent_events_store(rows=first)) == {row.uuid for row in first}
    racing = [agent_event_row(ctx, item(s), now) for s in (2, 3, 4, 5)]
    new = agent_events_store(rows=racing)
    assert set(new) == {racing[2].uuid, racing[3].uuid}
    assert new[racing[3].uuid] == DockerEvent.objects.get(node=node, seq=5).pk
    stored_seqs = DockerEvent.objects.filter(node=node, seq__isnull=False).order_by("seq")
    assert list(stored_seqs.values_list("seq", flat=True)) == [1, 2, 3, 4, 5]
