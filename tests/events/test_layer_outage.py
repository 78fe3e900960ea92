"""The channel layer (Redis) failing under a connected agent: its socket stays open, its events
are stored, it joins its group again when the layer is back, and a command meanwhile fails at
once. The lab scenario (tests/e2e/test_faults.py) restarts a real Redis; this one fails the layer
in process, fast. And the database unreachable under its heartbeats: the socket stays open."""

import asyncio
import time

import pytest
from asgiref.sync import sync_to_async
from channels.layers import InMemoryChannelLayer, channel_layers, get_channel_layer
from django.db import connections
from redis.exceptions import ConnectionError as RedisConnectionError

from nodes.agent_rpc import AgentUnavailable, _call
from realtime.groups import agent_group

from .conftest import receive_until, register_node, run
from .test_ingest import connect_agent, item, stored

pytestmark = [pytest.mark.django_db(transaction=True)]


class FailingLayer(InMemoryChannelLayer):
    """The in-memory layer failing as Redis does: while down, every call raises redis's
    ConnectionError, a waiting receive too (its connection is closed under it); back up, it
    holds no group and no message (a restarted Redis without persistence)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.down = False
        self._cut: asyncio.Event | None = None

    def _cut_event(self) -> asyncio.Event:
        if self._cut is None:
            self._cut = asyncio.Event()
        return self._cut

    def go_down(self) -> None:
        self.down = True
        self._cut_event().set()

    def come_back(self) -> None:
        self.channels.clear()
        self.groups.clear()
        self._cut = None
        self.down = False

    def _check(self) -> None:
        if self.down:
            raise RedisConnectionError("Error 111 connecting to 127.0.0.1:6379.")

    async def send(self, channel, message):
        self._check()
        await super().send(channel, message)

    async def group_add(self, group, channel):
        self._check()
        await super().group_add(group, channel)

    async def group_discard(self, group, channel):
        self._check()
        await super().group_discard(group, channel)

    async def group_send(self, group, message):
        self._check()
        await super().group_send(group, message)

    async def receive(self, channel):
        self._check()
        message = asyncio.ensure_future(super().receive(channel))
        cut = asyncio.ensure_future(self._cut_event().wait())
        try:
            await asyncio.wait([message, cut], return_when=asyncio.FIRST_COMPLETED)
        finally:
            cut.cancel()
        if not message.done():
            message.cancel()
            raise RedisConnectionError("Connection closed by server.")
        return message.result()


@pytest.fixture
def failing_layer(settings):
    backend = {"BACKEND": f"{__name__}.FailingLayer"}
    settings.CHANNEL_LAYERS = {"default": backend, "events": backend}
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


async def _until(condition, *, timeout: float, what: str) -> float:
    """Seconds until `condition()` held; fails at the deadline."""
    began = time.monotonic()
    while not condition():
        if time.monotonic() - began > timeout:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)
    return time.monotonic() - began


def test_an_agent_socket_outlives_a_layer_outage_and_joins_its_group_again(
    owner, probes, failing_layer
):
    node, secret = register_node(owner)
    group = agent_group(node.uuid)

    async def scenario():
        layer = get_channel_layer()
        agent = await connect_agent(node, secret)
        await receive_until(agent, lambda f: f["type"] == "ack", what="the first ack")
        assert group in layer.groups

        layer.go_down()
        # A command meanwhile is reported failed at once, not at its timeout.
        began = time.monotonic()
        with pytest.raises(AgentUnavailable, match="Redis"):
            await _call(node.uuid, "ping", {}, 30)
        assert time.monotonic() - began < 1
        # The socket is open: heartbeats are taken, events are stored and acknowledged.
        await agent.send_json_to({"type": "heartbeat", "time": time.time()})
        await agent.send_json_to({"type": "event", "events": [item(1), item(2)]})
        await receive_until(agent, lambda f: f == {"type": "ack", "seq": 2}, what="ack of 2")
        # An agent reconnecting meanwhile is served (it joins its group once the layer is back).
        await agent.disconnect()
        agent = await connect_agent(node, secret)
        await receive_until(agent, lambda f: f == {"type": "ack", "seq": 2}, what="resume at 2")

        layer.come_back()
        rejoined = await _until(lambda: group in layer.groups, timeout=2, what="the group")
        assert rejoined < 1
        # Commands reach the agent again, and its answer reaches the caller.
        call = asyncio.ensure_future(_call(node.uuid, "ping", {}, 5))
        command, _ = await receive_until(agent, lambda f: f["type"] == "command", what="ping")
        await agent.send_json_to({"type": "result", "id": command["id"], "ok": True})
        assert (await call)["ok"] is True
        await agent.send_json_to({"type": "event", "events": [item(3)]})
        await receive_until(agent, lambda f: f == {"type": "ack", "seq": 3}, what="ack of 3")
        await agent.disconnect()
        return await stored(node)

    assert [seq for seq, *_ in run(scenario)] == [1, 2, 3]


@pytest.mark.skipif(
    connections["default"].vendor != "postgresql", reason="an outage of the PostgreSQL server"
)
def test_an_agent_socket_outlives_a_database_outage_under_its_heartbeats(
    owner, probes, layer, database_cut, monkeypatch
):
    pool = connections["default"].settings_dict.get("OPTIONS", {}).get("pool")
    if isinstance(pool, dict):  # a pooled connection waits this long for the database, then fails
        monkeypatch.setitem(pool, "timeout", 0.5)
    node, secret = register_node(owner)
    cut = sync_to_async(database_cut)

    async def scenario():
        agent = await connect_agent(node, secret)
        await agent.send_json_to({"type": "hello", "features": ["clock_probe"]})
        await receive_until(agent, lambda f: f["type"] == "clock", what="a clock probe")
        await cut(True)
        await agent.send_json_to({"type": "heartbeat", "time": time.time(), "load": [9, 9, 9]})
        # Answered after the heartbeat was handled (not recorded): the socket is open.
        await receive_until(agent, lambda f: f["type"] == "clock", what="a clock probe")
        await cut(False)
        await agent.send_json_to({"type": "heartbeat", "time": time.time(), "load": [1, 1, 1]})
        await receive_until(agent, lambda f: f["type"] == "clock", what="a clock probe")
        await agent.disconnect()

    run(scenario)
    node.refresh_from_db()
    assert node.last_metric["load"] == [1, 1, 1]
