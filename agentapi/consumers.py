"""The agent's control channel: authentication, bounds, liveness, commands and tunnel relaying.

Every message an agent sends is checked against `limits` (size, shape, rate) before a handler
sees it; past a bound the socket is closed with a reason. Anything that reaches a shared
resource (the database, the task queue, other processes' channels) is bounded per node, so a
fake node costs the control plane no more than a real one.
"""

import asyncio
import functools
import json
import logging
import time

from channels.db import database_sync_to_async
from channels.exceptions import ChannelFull
from channels.generic.websocket import AsyncWebsocketConsumer
from kombu.exceptions import OperationalError as BrokerUnreachable

from core.loops import remember_server_loop
from core.outage import OUTAGE
from nodes import services
from nodes.events.ingest import AgentEventStream
from nodes.events.services import NodeContext
from nodes.transitions import liveness
from realtime.consumers import DirectDispatchMixin
from realtime.groups import agent_group
from realtime.outage import LAYER_ERRORS, LayerOutageMixin

from . import limits

log = logging.getLogger(__name__)
CLOSE_UNAUTHORIZED = 4401
CLOSE_BAD_MESSAGE = 4400
CLOSE_GONE = 4410
CLOSE_RATE = 4429
HANDLED = ("hello", "heartbeat", "event", "result", "tunnel_opened", "tunnel_data", "tunnel_close")
MAX_TEXT = 64 * 1024  # result output and error kept for the waiting task (the agent clips at 64K)
MAX_STREAM_ERROR = 200
# A tunnel stream whose reader (in another process) is this far behind loses the stream.
RELAY_PATIENCE = 10.0
# Redis unreachable under the cache, the task queue or the channel layer, or the database
# restarting: a hello or heartbeat is not recorded, the socket stays open and the next heartbeat
# tries again (a closed socket would be reopened only after the agent's backoff).
BACKEND_DOWN: tuple[type[BaseException], ...] = (*LAYER_ERRORS, BrokerUnreachable, *OUTAGE)


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
    liveness.node_hello(node=node, hello=message)
    services.node_probe_request(node_id=node.pk, node_uuid=node.uuid)


@database_sync_to_async
def _heartbeat(node, message) -> None:
    if liveness.node_heartbeat(node=node, beat=message):
        services.node_probe_request(node_id=node.pk, node_uuid=node.uuid)


def _text(value, limit: int) -> str:
    return value[:limit] if isinstance(value, str) else ""


def _stream_id(message) -> str:
    value = message.get("id")
    return value if isinstance(value, str) and len(value) <= limits.MAX_ID else ""


class AgentConsumer(LayerOutageMixin, DirectDispatchMixin, AsyncWebsocketConsumer):
    """One per connected agent. Group `agent.<uuid>` reaches it from any process.

    A Redis outage does not close it: it joins its group once Redis answers again, and its
    events go on being stored (in PostgreSQL) meanwhile."""

    async def connect(self):
        remember_server_loop()
        self.node = None
        self.closing = False
        self.streams: dict[str, str] = {}  # tunnel stream id -> reply channel
        self.replies: dict[str, str] = {}  # command id -> reply channel
        self.budget = limits.Budget()
        self.clock_probes = False
        await self.accept()
        creds = _credentials(self.scope)
        node = await _authenticate(*creds) if creds else None
        if node is None:
            await self._close("unauthorized: unknown node or secret", CLOSE_UNAUTHORIZED)
            return
        self.node_uuid = node.uuid  # for log lines: messages may come before `node` is set
        self.group = agent_group(node.uuid)
        await self.join_group(self.group)  # with Redis down: once it is back
        # Again, now that the group would hear it: a node terminated between the first check
        # and joining the group sent its `agent.close` to nobody.
        if await _authenticate(*creds) is None:
            await self.leave_group(self.group)
            await self._close("unauthorized: unknown node or secret", CLOSE_UNAUTHORIZED)
            return
        self.node = node
        await self.send_json({"type": "config", "heartbeat_interval": node.heartbeat_interval})
        self.events = AgentEventStream(
            NodeContext.of(node), self.send_json, functools.partial(self.refuse, kind="unstorable")
        )
        await self.events.start()  # `ack` with the last stored seq: where the agent resumes

    async def disconnect(self, code):
        self.stop_rejoining()
        if self.node is None:
            return
        await self.leave_group(self.group)
        for reply in self.streams.values():
            await self._to_reply(reply, {"type": "tunnel.close", "error": "agent gone"})
        self.streams.clear()

    async def send_json(self, content) -> None:
        await self.send(text_data=json.dumps(content))

    async def _close(self, reason: str, code: int) -> None:
        self.closing = True
        await self.send_json({"type": "close", "reason": reason})
        await self.close(code=code, reason=reason[:120])

    async def refuse(self, reason: str, *, kind: str = "refused", code: int = CLOSE_BAD_MESSAGE):
        """Close this agent's socket with `reason` (it passed a bound, or its events cannot be
        stored), and count it. The reason never quotes what the agent sent."""
        if self.closing:
            return
        limits.refusals[kind] += 1
        log.warning("node %s: agent channel closed: %s", self.node_uuid, reason)
        await self.leave_group(self.group)
        try:
            await self._close(reason, code)
        except Exception as exc:  # noqa: BLE001 (the socket is gone already)
            log.debug("closing node %s's socket: %r", self.node_uuid, exc)

    async def receive(self, text_data=None, bytes_data=None):
        if self.node is None or self.closing:
            return
        try:
            message = limits.decode(text_data)
            await self.budget.spend(message, len(text_data))
        except limits.Refused as refused:
            code = CLOSE_RATE if refused.kind == "rate" else CLOSE_BAD_MESSAGE
            await self.refuse(refused.reason, kind=refused.kind, code=code)
            return
        kind = message["type"]
        if kind not in HANDLED:
            log.warning("node %s sent an unknown message type %r", self.node.uuid, kind[:32])
            return
        await getattr(self, f"on_{kind}")(message)

    # --- agent -> server -------------------------------------------------------------------
    async def on_hello(self, message):
        try:
            await _hello(self.node, message)
        except BACKEND_DOWN as exc:
            log.warning("node %s: hello not recorded: %s", self.node, exc)
        features = message.get("features")
        self.clock_probes = isinstance(features, list) and "clock_probe" in features
        await self.send_clock_probe()

    async def on_heartbeat(self, message):
        try:
            await _heartbeat(self.node, message)
        except BACKEND_DOWN as exc:
            log.warning("node %s: heartbeat not recorded: %s", self.node, exc)
        await self.send_clock_probe()

    async def send_clock_probe(self):
        """Our time now; the agent echoes it with its own reception time in its next heartbeat,
        which lets `liveness.clock_skew` take the network delay out of the skew. Only to agents
        that said they answer it (an older one would log each as an unknown message)."""
        if self.clock_probes and not self.closing:
            await self.send_json({"type": "clock", "server_time": time.time()})

    async def on_event(self, message):
        await self.events.receive(message)

    async def on_result(self, message):
        reply = self.replies.pop(_stream_id(message), None)
        if reply:
            data = message.get("data")
            result = {
                "ok": message.get("ok") is True,
                "output": _text(message.get("output"), MAX_TEXT),
                "error": _text(message.get("error"), MAX_TEXT),
                "data": data if isinstance(data, dict) else {},
            }
            await self._to_reply(reply, {"type": "agent.result", "result": result})

    async def on_tunnel_opened(self, message):
        reply = self.streams.get(_stream_id(message))
        if reply:
            await self._to_reply(reply, {"type": "tunnel.opened"})

    async def on_tunnel_data(self, message):
        stream = _stream_id(message)
        reply = self.streams.get(stream)
        if reply and isinstance(message.get("data"), str):
            sent = await self._to_reply(
                reply, {"type": "tunnel.data", "data": message["data"]}, RELAY_PATIENCE
            )
            if not sent:  # its reader stopped reading: end the stream on both sides
                self.streams.pop(stream, None)
                await self.send_json({"type": "tunnel_close", "id": stream})

    async def on_tunnel_close(self, message):
        reply = self.streams.pop(_stream_id(message), None)
        if reply:
            error = _text(message.get("error"), MAX_STREAM_ERROR)
            await self._to_reply(reply, {"type": "tunnel.close", "error": error})

    async def _to_reply(self, reply: str, message: dict, patience: float = 0) -> bool:
        """Send to a waiting reader's channel; while it is full, wait up to `patience` seconds
        (this socket's reads wait with it: the agent slows down, no one else does)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + patience
        delay = 0.01
        while True:
            try:
                await self.channel_layer.send(reply, message)
                return True
            except ChannelFull:
                if loop.time() >= deadline:
                    log.warning("node %s: a tunnel or command reader is not reading", self.node)
                    return False
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.5)
            except LAYER_ERRORS as exc:
                # Its reader's receive failed with the same outage: it has reported the command
                # or stream failed already. Nothing to deliver to.
                log.warning("node %s: a reply was lost with the channel layer: %s", self.node, exc)
                self._layer_failed(exc)
                return False

    # --- any process -> agent (group messages) ---------------------------------------------
    async def agent_command(self, event):
        if self.closing:
            return
        self.replies[event["id"]] = event["reply"]
        command = {
            "type": "command",
            "id": event["id"],
            "name": event["name"],
            "args": event["args"],
        }
        await self.send_json(command)

    async def agent_tunnel_open(self, event):
        if self.closing:
            return
        self.streams[event["id"]] = event["reply"]
        await self.send_json({"type": "tunnel_open", "id": event["id"]})

    async def agent_tunnel_data(self, event):
        if event["id"] in self.streams and not self.closing:
            await self.send_json({"type": "tunnel_data", "id": event["id"], "data": event["data"]})

    async def agent_tunnel_close(self, event):
        # The control plane's side ended: the agent closes its side without answering.
        if self.streams.pop(event["id"], None) and not self.closing:
            await self.send_json({"type": "tunnel_close", "id": event["id"]})

    async def agent_close(self, event):
        """The node was terminated (or its agent otherwise revoked), from any process."""
        if not self.closing:
            log.info("node %s: agent channel closed: %s", self.node_uuid, event["reason"])
            await self.leave_group(self.group)
            await self._close(event["reason"], CLOSE_GONE)
