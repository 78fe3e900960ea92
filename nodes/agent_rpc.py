"""Commands to a node's agent over its control channel, from any process."""

import asyncio
import logging
import time
import uuid

from channels.layers import get_channel_layer

from core import signing
from core.loops import run_on_layer_loop
from realtime.groups import agent_group
from realtime.outage import LAYER_ERRORS

log = logging.getLogger(__name__)
SEND_TIMEOUT = 5.0


class AgentUnavailable(Exception):
    """The agent did not answer in time (not connected, or busy past the deadline)."""


async def _call(node_uuid, name: str, args: dict, timeout: float) -> dict:
    layer = get_channel_layer()
    reply = await layer.new_channel()
    command_id = str(uuid.uuid4())
    try:
        await layer.group_send(
            agent_group(node_uuid),
            {"type": "agent.command", "id": command_id, "name": name, "args": args, "reply": reply},
        )
        message = await asyncio.wait_for(layer.receive(reply), timeout)
    except TimeoutError:
        raise AgentUnavailable(
            f"the agent did not answer '{name}' within {timeout:.0f} s"
        ) from None
    except LAYER_ERRORS as exc:
        # A restarted Redis forgot the command or its answer: failed now, not at the timeout.
        # Never re-sent: the agent may have run it (an upgrade is not to be done twice).
        raise AgentUnavailable(
            f"the channel to the agent (Redis) failed during '{name}': {type(exc).__name__}"
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


# How long a signed upgrade stays acceptable to the agent: long enough for a slow link and a
# few minutes of clock skew, short enough that a captured command is soon useless.
UPGRADE_VALID_SECONDS = 600


def upgrade_message(*, node_uuid, sha256: str, version: str, expires: int) -> bytes:
    """The text an agent checks the upgrade signature on (dockercloud_agent.upgrade builds the
    same bytes): this node, this agent build, until then."""
    return (
        f"dockercloud upgrade_agent v1\nnode {node_uuid}\nsha256 {sha256}\n"
        f"version {version}\nexpires {expires}\n"
    ).encode()


def signed_upgrade_args(*, node_uuid, url: str, sha256: str, version: str) -> dict:
    """The `upgrade_agent` command's arguments, signed with the control plane's key."""
    expires = int(time.time()) + UPGRADE_VALID_SECONDS
    message = upgrade_message(node_uuid=node_uuid, sha256=sha256, version=version, expires=expires)
    return {
        "url": url,
        "sha256": sha256,
        "version": version,
        "expires": expires,
        "signature": signing.sign_b64(message),
    }
