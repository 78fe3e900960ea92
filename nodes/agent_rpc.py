"""Commands to a node's agent over its control channel, from any process."""

import asyncio
import logging
import uuid

from channels.layers import get_channel_layer

from core.loops import run_on_layer_loop

from .groups import agent_group

log = logging.getLogger(__name__)
SEND_TIMEOUT = 5.0


class AgentUnavailable(Exception):
    """The agent did not answer in time (not connected, or busy past the deadline)."""


async def _call(node_uuid, name: str, args: dict, timeout: float) -> dict:
    layer = get_channel_layer()
    reply = await layer.new_channel()
    command_id = str(uuid.uuid4())
    await layer.group_send(
        agent_group(node_uuid),
        {"type": "agent.command", "id": command_id, "name": name, "args": args, "reply": reply},
    )
    try:
        message = await asyncio.wait_for(layer.receive(reply), timeout)
    except TimeoutError:
        raise AgentUnavailable(
            f"the agent did not answer '{name}' within {timeout:.0f} s"
        ) from None
    return message["result"]


def agent_command(node_uuid, name: str, args: dict | None = None, *, timeout: float = 60) -> dict:
    """Send a command and wait for its result `{"ok", "output", "error", "data"}`."""
    return run_on_layer_loop(_call(node_uuid, name, args or {}, timeout), timeout + 5)


def agent_disconnect(node_uuid, reason: str) -> None:
    """Close the node's agent socket with `reason`, whichever web process holds it (its group
    reaches them all). Best effort: a failed send is logged, never raised."""
    message = {"type": "agent.close", "reason": reason}
    try:
        send = get_channel_layer().group_send(agent_group(node_uuid), message)
        run_on_layer_loop(send, SEND_TIMEOUT)
    except Exception as exc:  # noqa: BLE001 (the node is terminated whatever its socket does)
        log.warning("closing node %s's agent socket failed: %r", node_uuid, exc)
