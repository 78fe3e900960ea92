"""A container's output, read from its node's daemon in bounded pieces: the last lines (the
portal, the REST API) and what came after a point (the followed stream)."""

import struct
from datetime import datetime

from nodes.docker_client import DaemonAnswerError, daemon_get
from nodes.models import Node

from .models import Container
from .runtime import FAILURES, RuntimeFailure, client_for, reason

# One read: at most this many bytes of the daemon's answer, and this many lines.
MAX_LOG_BYTES = 2 * 1024 * 1024
MAX_TAIL = 1000
READ_TIMEOUT = 10
STREAMS = {1: "stdout", 2: "stderr"}


def container_logs(container: Container, *, tail: int, since: tuple[int, int] | None = None):
    """Lines `{"log", "timestamp", "streamType", "key"}`, oldest first: the last `tail`, or
    (with `since`, a line's key) those after it. `key` orders lines to the nanosecond."""
    if not container.docker_id:
        return []
    return daemon_logs(
        container.node, container.docker_id, tail=tail, since=since, label=str(container)
    )


def daemon_logs(
    node: Node, docker_id: str, *, tail: int, since: tuple[int, int] | None = None, label: str
) -> list[dict]:
    """As `container_logs`, for any container of the node's daemon, by its id."""
    params: dict[str, int | str] = {
        "stdout": 1,
        "stderr": 1,
        "timestamps": 1,
        "tail": min(tail, MAX_TAIL),
    }
    if since is not None:
        params["since"] = f"{since[0]}.{since[1]:09d}"
    client = client_for(node, READ_TIMEOUT)
    try:
        body = daemon_get(
            client, f"/containers/{docker_id}/logs", limit=MAX_LOG_BYTES, params=params
        )
    except (DaemonAnswerError, OSError, *FAILURES) as exc:
        raise RuntimeFailure(f"The logs of {label} could not be read: {reason(exc)}") from None
    finally:
        client.close()
    lines = [_line(text, stream) for stream, text in _frames(body)]
    return [line for line in lines if since is None or line["key"] > since]


def _frames(body: bytes) -> list[tuple[str, str]]:
    """(stream, line) of the daemon's multiplexed answer (8-byte headers); a TTY's has none."""
    out: list[tuple[str, str]] = []
    rest = body
    while len(rest) >= 8 and rest[0] in (0, 1, 2) and rest[1:4] == b"\0\0\0":
        (size,) = struct.unpack(">I", rest[4:8])
        text = rest[8 : 8 + size].decode("utf-8", errors="replace")
        out += [(STREAMS.get(rest[0], "stdout"), line) for line in text.splitlines()]
        rest = rest[8 + size :]
    text = rest.decode("utf-8", errors="replace")
    return out + [("stdout", line) for line in text.splitlines()]


def _line(text: str, stream: str) -> dict:
    """`2026-11-29T20:55:17.123456789Z message` -> its fields (the daemon's RFC 3339 time)."""
    stamp, _, line = text.partition(" ")
    seconds, _, fraction = stamp.rstrip("Z").partition(".")
    try:
        moment = datetime.fromisoformat(seconds + "+00:00")
        nanos = int((fraction + "000000000")[:9]) if fraction else 0
    except ValueError:
        return {"log": text, "timestamp": None, "streamType": stream, "key": (0, 0)}
    whole = int(moment.timestamp())
    return {"log": line, "timestamp": whole, "streamType": stream, "key": (whole, nanos)}


def public(lines: list[dict]) -> list[dict]:
    """Without the ordering key."""
    return [{k: v for k, v in line.items() if k != "key"} for line in lines]
