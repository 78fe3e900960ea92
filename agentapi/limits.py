"""Bounds on what an agent sends over its control channel: frame sizes, JSON shape and rates.

Any node can be a fake one (registration is self-service), so nothing its socket sends may cost
the control plane more than these bounds, whoever's turn it is. Past one, the socket is closed
with a reason (`{"type": "close", "reason": ...}`, then a close code). The agent in agent/
stays well inside them: events in messages of at most 512 KiB, tunnel data in 32 KiB pieces
(44 KiB as base64), one hello per connection and a heartbeat every few seconds.
"""

import asyncio
import json
import logging
import time
from collections import Counter
from dataclasses import dataclass

log = logging.getLogger(__name__)

KIB = 1024
MIB = 1024 * KIB
# Per message type, in characters of the text frame; nothing larger is even parsed.
FRAME_LIMITS = {
    "hello": 64 * KIB,
    "heartbeat": 16 * KIB,
    "event": 4 * MIB,
    "result": 1 * MIB,
    "tunnel_opened": 1 * KIB,
    "tunnel_data": 64 * KIB,
    "tunnel_close": 4 * KIB,
}
UNKNOWN_FRAME = 4 * KIB
MAX_FRAME = max(FRAME_LIMITS.values())
MAX_DEPTH = 8  # an event item's attributes are 5 levels down
MAX_EVENTS = 1000  # per event message (the agent sends at most 500)
MAX_ID = 64  # command and tunnel stream ids (the server makes them: 32-36 characters)

# Sockets closed for passing a bound, by kind, in this process (logs say which node and why).
refusals: Counter = Counter()


class Refused(Exception):
    """The agent passed a bound: its socket is closed with `reason`."""

    def __init__(self, kind: str, reason: str):
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def decode(text_data: str | None) -> dict:
    """The agent's message, once it is known to be within the bounds of its type."""
    if text_data is None:
        raise Refused("malformed", "malformed message: binary frames are not part of the protocol")
    if len(text_data) > MAX_FRAME:
        raise Refused("too_large", f"message too large: more than {MAX_FRAME} characters")
    try:
        message = json.loads(text_data, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        raise Refused("malformed", "malformed message: not JSON") from None
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise Refused("malformed", "malformed message: not an object with a type")
    kind = message["type"]
    limit = FRAME_LIMITS.get(kind, UNKNOWN_FRAME)
    if len(text_data) > limit:
        raise Refused("too_large", f"{kind[:32]} message too large: more than {limit} characters")
    # An event's items are checked one by one (`agent_event_row`): a bad one is dropped, and
    # counted, without the rest of its batch.
    _check_values(message, strings=kind != "event")
    if kind == "event":
        events = message.get("events")
        if not isinstance(events, list) or len(events) > MAX_EVENTS:
            raise Refused("malformed", f"an event message holds a list of at most {MAX_EVENTS}")
    return message


def _check_values(message: dict, *, strings: bool) -> None:
    """No deeper than MAX_DEPTH; with `strings`, every string (keys too) storable as text in any
    database: no NUL character, no unpaired surrogate (`"\\ud800"` decodes to one; UTF-8 cannot
    hold it). Without `strings` only containers are visited (an event message's thousands of
    strings are checked item by item where they are stored)."""
    stack: list[tuple[dict | list, int]] = [(message, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise Refused("malformed", f"malformed message: nested deeper than {MAX_DEPTH}")
        children = value.values() if isinstance(value, dict) else value
        if strings:
            texts = [*value, *children] if isinstance(value, dict) else children
            if not all(_is_storable(text) for text in texts if isinstance(text, str)):
                raise Refused(
                    "malformed", "malformed message: a NUL character or an unpaired surrogate"
                )
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))


def _is_storable(text: str) -> bool:
    return "\x00" not in text and _is_utf8(text)


def _is_utf8(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# --- rates ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Rate:
    """A token bucket: `burst` at once, `per_second` after that. Past it, a message the agent
    sends on its own (hello, heartbeat) closes the socket; one the control plane asked for
    (results, tunnel traffic) or a replay of buffered events waits, which slows that socket
    alone (its reads pause, and TCP makes the agent wait)."""

    burst: float
    per_second: float
    wait: bool


RATES = {
    "hello": Rate(burst=3, per_second=1 / 60, wait=False),
    "heartbeat": Rate(burst=10, per_second=1, wait=False),
    "event": Rate(burst=20000, per_second=5000, wait=True),  # events, not messages
    "result": Rate(burst=100, per_second=20, wait=True),
    "tunnel": Rate(burst=600, per_second=200, wait=True),  # tunnel_opened, tunnel_close
    "tunnel_data": Rate(burst=64 * MIB, per_second=32 * MIB, wait=True),  # characters
    "other": Rate(burst=5, per_second=1 / 60, wait=False),  # unknown types
    # Characters of every frame but tunnel data: parsing is work on the event loop every socket
    # of the process shares, whatever the message holds.
    "frames": Rate(burst=16 * MIB, per_second=8 * MIB, wait=True),
}
BUCKET_OF = {
    "hello": "hello",
    "heartbeat": "heartbeat",
    "event": "event",
    "result": "result",
    "tunnel_opened": "tunnel",
    "tunnel_close": "tunnel",
    "tunnel_data": "tunnel_data",
}


class _Bucket:
    def __init__(self, rate: Rate):
        self.rate = rate
        self.tokens = rate.burst
        self.at = time.monotonic()

    def take(self, cost: float) -> float:
        """Seconds to wait before this message may be handled (0: now)."""
        now = time.monotonic()
        self.tokens = min(self.rate.burst, self.tokens + (now - self.at) * self.rate.per_second)
        self.at = now
        if self.tokens >= cost:
            self.tokens -= cost
            return 0.0
        wait = (cost - self.tokens) / self.rate.per_second
        if self.rate.wait:
            self.tokens -= cost  # paid in advance: the next message waits behind this one
        return wait


class Budget:
    """The rates of one agent socket."""

    def __init__(self):
        self._buckets: dict[str, _Bucket] = {}

    def _bucket(self, name: str) -> _Bucket:
        bucket = self._buckets.get(name)
        if bucket is None:
            bucket = self._buckets[name] = _Bucket(RATES[name])
        return bucket

    async def spend(self, message: dict, size: int) -> None:
        """Wait until `message` (`size` characters) may be handled, or refuse it."""
        kind = message["type"]
        name = BUCKET_OF.get(kind, "other")
        if name == "event":
            cost = max(len(message["events"]), 1)
        elif name == "tunnel_data":
            cost = size
        else:
            cost = 1
        bucket = self._bucket(name)
        wait = bucket.take(cost)
        if wait and not bucket.rate.wait:
            raise Refused("rate", f"rate limit: too many {kind[:32]} messages")
        if name != "tunnel_data":
            wait = max(wait, self._bucket("frames").take(size))
        if wait:
            await asyncio.sleep(wait)
