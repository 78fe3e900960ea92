"""The one way sync code sends a live message: after the transaction commits."""

import functools
import logging

from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction

from core.loops import run_on_layer_loop

from .payloads import GroupMessage

log = logging.getLogger(__name__)
SEND_TIMEOUT = 5.0
# The channel layer alias of the live event streams (settings.CHANNEL_LAYERS): every group of
# realtime.groups but the agents' lives there.
EVENTS_LAYER = "events"


def events_layer():
    """The live events' channel layer (the default one where no "events" layer is set)."""
    alias = EVENTS_LAYER if EVENTS_LAYER in settings.CHANNEL_LAYERS else "default"
    return get_channel_layer(alias)


def emit_on_commit(group: str, payload: GroupMessage) -> None:
    """Send `payload` to a channel-layer group once the current transaction commits (at once
    in autocommit). A rolled-back change sends nothing; a failed send is logged, never raised:
    pages catch up from the database after a reconnect."""
    transaction.on_commit(functools.partial(_send, group, payload), robust=True)


def _send(group: str, payload: GroupMessage) -> None:
    try:
        run_on_layer_loop(events_layer().group_send(group, payload), SEND_TIMEOUT)
    except Exception as exc:  # noqa: BLE001 (a live message must never fail the write it follows)
        log.warning("live message %s to %s not sent: %r", payload["type"], group, exc)
