"""Reverse tunnel, control-plane side: a local unix socket per tunnelled node.

The docker SDK connects to that socket as if it were the node's daemon. Each connection is a
byte stream relayed through the channel layer to the web process holding the node's agent
websocket, and by the agent to its local docker socket. Relaying bytes rather than HTTP
requests keeps everything the SDK does working: streaming logs and events, and the raw socket
it reads multiplexed output from.

Messages to the agent's consumer (group `agent.<uuid>`): agent.tunnel_open {id, reply},
agent.tunnel_data {id, data}, agent.tunnel_close {id}. Back on `reply`: tunnel.opened,
tunnel.data {data}, tunnel.close {error?}. Data is base64 text.
"""

import asyncio
import base64
import logging
import os
import tempfile
import threading
import uuid

from channels.layers import get_channel_layer

from core.loops import layer_loop
from realtime.groups import agent_group

log = logging.getLogger(__name__)
OPEN_TIMEOUT = 10.0
CHUNK = 32 * 1024


class TunnelHub:
    """Per process: one listening unix socket per node, created on first use."""

    def __init__(self):
        self._lock = threading.Lock()
        self._paths: dict[str, str] = {}
        self._dir = tempfile.mkdtemp(prefix="dc-tunnels-")  # mode 700: only we can connect

    def socket_path(self, node_uuid) -> str:
        key = str(node_uuid)
        with self._lock:
            if key not in self._paths:
                path = os.path.join(self._dir, f"{key}.sock")
                loop = layer_loop()
                start = asyncio.start_unix_server(lambda r, w: self._relay(key, r, w), path)
                asyncio.run_coroutine_threadsafe(start, loop).result(5)
                self._paths[key] = path
            return self._paths[key]

    async def _relay(self, node_uuid: str, reader, writer) -> None:
        layer = get_channel_layer()
        group = agent_group(node_uuid)
        stream = uuid.uuid4().hex
        reply = await layer.new_channel()
        await layer.group_send(group, {"type": "agent.tunnel_open", "id": stream, "reply": reply})
        try:
            first = await asyncio.wait_for(layer.receive(reply), OPEN_TIMEOUT)
        except TimeoutError:
            log.warning("tunnel to node %s: the agent did not answer", node_uuid)
            await self._close_agent_side(layer, group, stream)
            writer.close()
            return
        if first.get("type") != "tunnel.opened":
            log.warning("tunnel to node %s refused: %r", node_uuid, first.get("error"))
            writer.close()
            return
        upstream = asyncio.ensure_future(self._upstream(layer, group, stream, reader))
        downstream = asyncio.ensure_future(self._downstream(layer, reply, writer))
        try:
            # Either side ends the stream: the local client closing its socket (a capped read
            # stops reading), a write to it failing, or the agent closing its side.
            await asyncio.wait({upstream, downstream}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            upstream.cancel()
            downstream.cancel()
            writer.close()
        ended = [t for t in (upstream, downstream) if t.done() and not t.cancelled()]
        errors = [t.exception() for t in ended if t.exception()]
        if errors:
            log.info("tunnel stream to node %s ended: %r", node_uuid, errors[0])
        if downstream not in ended or downstream.exception():
            await self._close_agent_side(layer, group, stream)

    @staticmethod
    async def _close_agent_side(layer, group: str, stream: str) -> None:
        try:
            await layer.group_send(group, {"type": "agent.tunnel_close", "id": stream})
        except Exception as exc:  # noqa: BLE001 (the agent's socket closes its streams anyway)
            log.info("tunnel stream %s not closed on the agent: %r", stream, exc)

    async def _upstream(self, layer, group: str, stream: str, reader) -> None:
        while True:
            data = await reader.read(CHUNK)
            if not data:
                return
            payload = base64.b64encode(data).decode("ascii")
            await layer.group_send(
                group, {"type": "agent.tunnel_data", "id": stream, "data": payload}
            )

    async def _downstream(self, layer, reply: str, writer) -> None:
        """Returns when the agent closed the stream; raises when the local client is gone or the
        agent sent what is not base64."""
        while True:
            message = await layer.receive(reply)
            if message.get("type") == "tunnel.data":
                writer.write(base64.b64decode(message["data"], validate=True))
                await writer.drain()
            elif message.get("type") == "tunnel.close":
                if message.get("error"):
                    log.info("tunnel stream closed: %r", message["error"])
                return


_hub: TunnelHub | None = None
_hub_lock = threading.Lock()


def tunnel_socket_path(node_uuid) -> str:
    global _hub
    with _hub_lock:
        if _hub is None:
            _hub = TunnelHub()
    return _hub.socket_path(node_uuid)
