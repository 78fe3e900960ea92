"""The agent's control channel: authentication, liveness, commands and tunnel relaying."""

import logging

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.db import transaction

from core.loops import remember_server_loop
from nodes import services
from nodes.consumers import DirectDispatchMixin
from nodes.events.ingest import AgentEventStream
from nodes.events.services import NodeContext
from nodes.groups import agent_group
from nodes.tasks import probe_node

log = logging.getLogger(__name__)
CLOSE_UNAUTHORIZED = 4401
CLOSE_BAD_MESSAGE = 4400


def _credentials(scope) -> tuple[str, str] | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, rest = value.decode("latin-1").partition(" ")
            node_uuid, sep, secret = rest.strip().partition(":")
            if scheme.lower() == "agent" and sep:
                return node_uuid, secret
    return None


@database_sync_to_async
def _authenticate(node_uuid: str, secret: str):
    try:
        return services.node_authenticate_agent(node_uuid=node_uuid, secret=secret)
    except ValueError:  # not a UUID
        return None


@database_sync_to_async
def _hello(node, message) -> None:
    services.node_hello(node=node, hello=message)
    transaction.on_commit(lambda: probe_node.delay(node.pk))


@database_sync_to_async
def _heartbeat(node, message) -> None:
    if services.node_heartbeat(node=node, beat=message):
        probe_node.delay(node.pk)


class AgentConsumer(DirectDispatchMixin, AsyncJsonWebsocketConsumer):
    """One per connected agent. Group `agent.<uuid>` reaches it from any process."""

    async def connect(self):
        remember_server_loop()
        self.node = None
        self.streams: dict[str, str] = {}  # tunnel stream id -> reply channel
        self.replies: dict[str, str] = {}  # command id -> reply channel
        await self.accept()
        creds = _credentials(self.scope)
        node = await _authenticate(*creds) if creds else None
        if node is None:
            await self.send_json(
                {"type": "close", "reason": "unauthorized: unknown node or secret"}
            )
            await self.close(code=CLOSE_UNAUTHORIZED)
            return
        self.node = node
        self.group = agent_group(node.uuid)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.send_json({"type": "config", "heartbeat_interval": node.heartbeat_interval})
        self.events = AgentEventStream(NodeContext.of(node), self.send_json)
        await self.events.start()  # `ack` with the last stored seq: where the agent resumes

    async def disconnect(self, code):
        if self.node is None:
            return
        await self.channel_layer.group_discard(self.group, self.channel_name)
        for reply in self.streams.values():
            await self.channel_layer.send(reply, {"type": "tunnel.close", "error": "agent gone"})
        self.streams.clear()

    async def receive_json(self, content, **kwargs):
        if self.node is None:
            return
        kind = content.get("type") if isinstance(content, dict) else None
        handler = getattr(self, f"on_{kind}", None) if isinstance(kind, str) else None
        if handler is None:
            log.warning("node %s sent an unknown message type %r", self.node.uuid, kind)
            return
        await handler(content)

    async def decode_json(self, text_data):
        try:
            return await super().decode_json(text_data)
        except ValueError:
            return {"type": "malformed"}

    # --- agent -> server -------------------------------------------------------------------
    async def on_malformed(self, message):
        log.warning("node %s sent a message that is not JSON", self.node.uuid)

    async def on_hello(self, message):
        await _hello(self.node, message)

    async def on_heartbeat(self, message):
        await _heartbeat(self.node, message)

    async def on_event(self, message):
        await self.events.receive(message)

    async def on_result(self, message):
        reply = self.replies.pop(str(message.get("id")), None)
        if reply:
            result = {k: message.get(k) for k in ("ok", "output", "error", "data")}
            await self.channel_layer.send(reply, {"type": "agent.result", "result": result})

    async def on_tunnel_opened(self, message):
        reply = self.streams.get(str(message.get("id")))
        if reply:
            await self.channel_layer.send(reply, {"type": "tunnel.opened"})

    async def on_tunnel_data(self, message):
        reply = self.streams.get(str(message.get("id")))
        if reply and isinstance(message.get("data"), str):
            await self.channel_layer.send(reply, {"type": "tunnel.data", "data": message["data"]})

    async def on_tunnel_close(self, message):
        reply = self.streams.pop(str(message.get("id")), None)
        if reply:
            await self.channel_layer.send(
                reply, {"type": "tunnel.close", "error": message.get("error")}
            )

    # --- any process -> agent (group messages) ---------------------------------------------
    async def agent_command(self, event):
        self.replies[event["id"]] = event["reply"]
        command = {
            "type": "command",
            "id": event["id"],
            "name": event["name"],
            "args": event["args"],
        }
        await self.send_json(command)

    async def agent_tunnel_open(self, event):
        self.streams[event["id"]] = event["reply"]
        await self.send_json({"type": "tunnel_open", "id": event["id"]})

    async def agent_tunnel_data(self, event):
        await self.send_json({"type": "tunnel_data", "id": event["id"], "data": event["data"]})

    async def agent_tunnel_close(self, event):
        await self.send_json({"type": "tunnel_close", "id": event["id"]})
