"""Events as they go over the control channel: within what the control plane accepts.

The control plane closes an agent's channel past its bounds (a message's size, its shape) and
drops an event it could not store; these keep the agent well inside them.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List

# What the control plane keeps of an event (its nodes/events/services.py), and the size of one
# event message: well within what it accepts (4 MiB, at most 1000 events).
MAX_MESSAGE = 512 * 1024
MAX_ATTRIBUTES = 64
MAX_KEY = 200
MAX_VALUE = 1000
TEXT_LIMITS = (("type", 32), ("action", 100), ("scope", 32))


def _text(value: Any, limit: int) -> str:
    """`value` clipped, without what no database stores as text (NUL, unpaired surrogates)."""
    text = value if isinstance(value, str) else ""
    text = text[:limit].replace("\x00", "")
    return text.encode("utf-8", "replace").decode("utf-8")


def wire_event(record: Dict[str, Any]) -> Dict[str, Any]:
    """A buffered record as it is sent: its strings clipped to what the control plane keeps,
    at most MAX_ATTRIBUTES string attributes."""
    out = dict(record)
    for key, limit in TEXT_LIMITS:
        if key in out:
            out[key] = _text(out[key], limit)
    actor = out.get("actor") if isinstance(out.get("actor"), dict) else {}
    given = actor.get("attributes") if isinstance(actor.get("attributes"), dict) else {}
    strings = [(k, v) for k, v in given.items() if isinstance(k, str) and isinstance(v, str)]
    out["actor"] = {
        "id": _text(actor.get("id"), 128),
        "attributes": {_text(k, MAX_KEY): _text(v, MAX_VALUE) for k, v in strings[:MAX_ATTRIBUTES]},
    }
    return out


def wire_batch(records: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """The first of `records` that fit one event message (at least one)."""
    batch: List[Dict[str, Any]] = []
    size = 0
    for record in records:
        wire = wire_event(record)
        length = len(json.dumps(wire, separators=(",", ":"))) + 1
        if batch and size + length > MAX_MESSAGE:
            break
        batch.append(wire)
        size += length
    return batch
