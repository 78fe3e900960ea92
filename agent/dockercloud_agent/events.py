"""Docker events: follow the daemon, number them, keep them on disk until acknowledged.

Every event the daemon reports is numbered and kept by the buffer (``eventbuffer``) before it
is sent as ``{"type": "event", "events": [{"seq", "time_nano", "type", "action", "actor":
{"id", "attributes"}, "scope"}, ...]}``. The server answers ``ack {seq}`` once everything up to
seq is stored. On every connection the server first sends the highest seq it has (where to
resume) and the agent replays what follows, so events are delivered at least once and stored
once.

The control plane bounds what an agent sends (it closes the channel past a bound, and drops an
event it could not store): events go out as it keeps them (``wire_event``), in messages of at
most ``wire.MAX_MESSAGE`` characters.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from .config import Config, Paths
from .dockerapi import DockerAPI, DockerError, Response
from .eventbuffer import DEFAULT_MAX_EVENTS, SEND_BATCH, EventBuffer, events_dir
from .wire import wire_batch

log = logging.getLogger("dockercloud.events")

SYNC_TIMEOUT = 10.0  # start sending without the server's first ack after this long
RETRY_MAX = 10.0


def normalize(raw: Dict[str, Any]) -> Dict[str, Any]:
    """A daemon event in the shape the agent sends (without seq)."""
    actor = raw.get("Actor") if isinstance(raw.get("Actor"), dict) else {}
    attributes = actor.get("Attributes") if isinstance(actor.get("Attributes"), dict) else {}
    time_nano = raw.get("timeNano")
    if not isinstance(time_nano, int):
        time_nano = int(float(raw.get("time") or time.time()) * 1e9)
    return {
        "type": str(raw.get("Type") or "container"),
        "action": str(raw.get("Action") or raw.get("status") or ""),
        "actor": {"id": str(actor.get("ID") or raw.get("id") or ""), "attributes": attributes},
        "scope": str(raw.get("scope") or "local"),
        "time_nano": time_nano,
    }


class EventFollower:
    """Follows ``GET /events`` on the local socket, from where it left off, into the buffer.

    After a reconnect (dockerd restarted, or the agent did) it asks for events since the newest
    one it has and skips those at or before it.
    """

    def __init__(
        self,
        docker: DockerAPI,
        buffer: EventBuffer,
        on_event: Callable[[], None],
        stopped: threading.Event,
    ) -> None:
        self.docker = docker
        self.buffer = buffer
        self.on_event = on_event
        self.stopped = stopped
        self.started_ns = time.time_ns()
        self._response: Optional[Response] = None
        self.connected = threading.Event()
        self.listeners: List[Callable[[Dict[str, Any]], None]] = []

    def run(self) -> None:
        delay = 0.5
        while not self.stopped.is_set():
            try:
                if self._follow_once():
                    delay = 0.5
            except DockerError as exc:
                log.debug("docker events: %s", exc)
            except Exception:
                log.exception("following docker events failed")
            self.connected.clear()
            if self.stopped.wait(delay):
                break
            delay = min(delay * 2, RETRY_MAX)

    def _follow_once(self) -> bool:
        resume = self.buffer.cursor
        since_ns = resume or self.started_ns
        path = "/events?since=%d.%09d" % divmod(since_ns, 1000000000)
        response = self.docker.open("GET", path, timeout=10)
        if response.status != 200:
            response.close()
            raise DockerError("GET /events: HTTP %d" % response.status)
        response.set_timeout(None)  # quiet daemons send nothing for hours
        self._response = response
        if self.stopped.is_set():
            response.abort()
        self.connected.set()
        got = False
        for line in _lines(response.iter_body()):
            try:
                raw = json.loads(line.decode("utf-8"))
            except ValueError:
                continue
            if not isinstance(raw, dict):
                continue
            event = normalize(raw)
            if event["time_nano"] <= resume:
                continue  # replayed by `since`: we have it
            self.buffer.append(event)
            got = True
            self.on_event()
            for listener in self.listeners:
                try:
                    listener(event)
                except Exception:
                    log.exception("an event listener failed")
        return got or not response.aborted

    def stop(self) -> None:
        response = self._response
        if response is not None:
            response.abort()


def _lines(chunks: Any) -> Any:
    pending = b""
    for chunk in chunks:
        pending += chunk
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            if line.strip():
                yield line
    if pending.strip():
        yield pending


class EventShipper:
    """Sends buffered events: on each connection, after the server's first ``ack`` (where it
    resumes), then as they come. Runs in its own thread; ``send`` is the channel's."""

    def __init__(self, buffer: EventBuffer, send: Callable[[Dict[str, Any]], bool]) -> None:
        self.buffer = buffer
        self._send = send
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._connected = False
        self._synced = False
        self._connected_at = 0.0
        self._generation = 0
        self._next = 1
        self.sent = 0

    def on_connect(self) -> None:
        with self._lock:
            self._connected = True
            self._synced = False
            self._connected_at = time.monotonic()
            self._generation += 1
        self._wake.set()

    def on_disconnect(self) -> None:
        with self._lock:
            self._connected = False
            self._synced = False
            self._generation += 1

    def on_ack(self, seq: Any) -> None:
        if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
            log.warning("ignoring an ack without a valid seq: %r", seq)
            return
        self.buffer.ack(seq)
        with self._lock:
            if self._connected and not self._synced:
                self._synced = True
                self._next = max(seq + 1, self.buffer.first_unacked())
        self._wake.set()

    def notify(self) -> None:
        self._wake.set()

    def _position(self) -> Optional[Tuple[int, int]]:
        """(generation, next seq to send), or None when nothing may be sent now."""
        with self._lock:
            if not self._connected:
                return None
            if not self._synced:
                if time.monotonic() - self._connected_at < SYNC_TIMEOUT:
                    return None
                log.warning("no ack from the control plane: sending from the first unacknowledged")
                self._synced = True
                self._next = self.buffer.first_unacked()
            return self._generation, self._next

    def run(self, stopped: threading.Event) -> None:
        while not stopped.is_set():
            self._wake.wait(1.0)
            self._wake.clear()
            while not stopped.is_set():
                position = self._position()
                if position is None:
                    break
                generation, start = position
                records = wire_batch(self.buffer.read(start, SEND_BATCH))
                if not records:
                    break
                if not self._send({"type": "event", "events": records}):
                    break  # the connection is gone: the next one resynchronizes
                with self._lock:
                    if generation == self._generation:
                        self._next = records[-1]["seq"] + 1
                self.sent += len(records)


class EventStream:
    """The agent's event machinery: buffer + daemon follower + shipper threads."""

    def __init__(
        self,
        paths: Paths,
        config: Config,
        docker: DockerAPI,
        send: Callable[[Dict[str, Any]], bool],
    ) -> None:
        self.paths = paths
        self.config = config
        self.docker = docker
        self._send = send
        self._lock = threading.Lock()
        self._buffer: Optional[EventBuffer] = None
        self._shipper: Optional[EventShipper] = None
        self.follower: Optional[EventFollower] = None
        self.stopped = threading.Event()
        self.listeners: List[Callable[[Dict[str, Any]], None]] = []  # each daemon event, once

    @property
    def buffer(self) -> EventBuffer:
        self._ensure()
        assert self._buffer is not None
        return self._buffer

    @property
    def shipper(self) -> EventShipper:
        self._ensure()
        assert self._shipper is not None
        return self._shipper

    def _ensure(self) -> None:
        with self._lock:
            if self._buffer is None:
                limit = self.config.data.get("events_buffer_max") or DEFAULT_MAX_EVENTS
                self._buffer = EventBuffer(
                    events_dir(self.paths), max_events=int(limit), owner=self.config.node_uuid
                )
                self._shipper = EventShipper(self._buffer, self._send)

    def start(self) -> None:
        shipper = self.shipper
        self.follower = EventFollower(self.docker, self.buffer, shipper.notify, self.stopped)
        self.follower.listeners = self.listeners
        for target, name in ((self.follower.run, "docker-events"), (self._ship, "event-ship")):
            threading.Thread(target=target, name=name, daemon=True).start()

    def _ship(self) -> None:
        self.shipper.run(self.stopped)

    def stop(self) -> None:
        self.stopped.set()
        if self.follower is not None:
            self.follower.stop()
        self.shipper.notify()
        if self._buffer is not None:
            self._buffer.close()

    # --- channel callbacks ---------------------------------------------------------------
    def on_connect(self) -> None:
        self.shipper.on_connect()

    def on_disconnect(self) -> None:
        self.shipper.on_disconnect()

    def on_ack(self, seq: Any) -> None:
        self.shipper.on_ack(seq)
