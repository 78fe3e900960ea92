"""Docker events: follow the daemon, number them, keep them on disk until acknowledged.

Every event the daemon reports gets the node's next sequence number and is appended to a
segment file under /var/lib/dockercloud/events/ before it is sent as
``{"type": "event", "events": [{"seq", "time_nano", "type", "action", "actor": {"id",
"attributes"}, "scope"}, ...]}``. The server answers ``ack {seq}`` once everything up to seq
is stored; fully acknowledged segments are deleted. On every connection the server first sends
the highest seq it has (where to resume) and the agent replays what follows, so events are
delivered at least once and stored once.

The buffer is bounded: past ``max_events`` kept events the oldest segment is deleted and a
``gap`` event (``"gap": {"dropped", "first_seq", "last_seq"}``) is appended, counting the
events lost (and those counted by any gap event deleted with them).

The control plane bounds what an agent sends (it closes the channel past a bound, and drops an
event it could not store): events go out as it keeps them (``wire_event``), in messages of at
most ``wire.MAX_MESSAGE`` characters.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import deque
from typing import Any, Callable, Deque, Dict, List, Optional, Tuple

from .config import Config, Paths, write_file_atomic
from .dockerapi import DockerAPI, DockerError, Response
from .wire import wire_batch

log = logging.getLogger("dockercloud.events")

DEFAULT_MAX_EVENTS = 100000
SEGMENT_EVENTS = 1000
SEND_BATCH = 500
SYNC_TIMEOUT = 10.0  # start sending without the server's first ack after this long
FSYNC_EVERY = 1.0
TAIL_CACHE = 2000
RETRY_MAX = 10.0


def events_dir(paths: Paths) -> str:
    return os.path.join(paths.state_dir, "events")


class _Segment:
    def __init__(self, path: str, first: int, last: int, count: int) -> None:
        self.path = path
        self.first = first
        self.last = last
        self.count = count


def _read_records(path: str) -> List[Dict[str, Any]]:
    """Records of a segment file; a torn last line (a crash mid-write) is skipped."""
    records = []
    try:
        with open(path, "rb") as f:
            for line in f:
                try:
                    record = json.loads(line.decode("utf-8"))
                except ValueError:
                    continue
                if isinstance(record, dict) and isinstance(record.get("seq"), int):
                    records.append(record)
    except OSError as exc:
        log.warning("cannot read %s: %s", path, exc)
    return records


class EventBuffer:
    """Numbered events on disk, oldest first, until acknowledged. Thread-safe."""

    def __init__(
        self,
        directory: str,
        max_events: int = DEFAULT_MAX_EVENTS,
        segment_events: Optional[int] = None,
        owner: str = "",
    ) -> None:
        self.dir = directory
        self.owner = owner  # the node uuid: another registration starts a new sequence
        self.max_events = max(int(max_events), 8)
        self.segment_events = segment_events or max(2, min(SEGMENT_EVENTS, self.max_events // 4))
        self._lock = threading.Lock()
        self._segments: List[_Segment] = []
        self._file: Optional[Any] = None  # the last segment, open for appends
        self._synced = 0.0
        self._tail: Deque[Dict[str, Any]] = deque(maxlen=TAIL_CACHE)
        self.acked = 0
        self.next_seq = 1
        self.cursor = 0  # time_nano of the newest event taken from the daemon
        self.dropped = 0  # events lost to the bound since start
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        self._load()

    # --- state ------------------------------------------------------------------------------
    @property
    def _state_file(self) -> str:
        return os.path.join(self.dir, "state.json")

    def _load(self) -> None:
        try:
            with open(self._state_file, "rb") as f:
                state = json.loads(f.read().decode("utf-8"))
            if state.get("owner", "") == self.owner:
                self.acked = int(state.get("acked") or 0)
                self.cursor = int(state.get("cursor") or 0)
            else:
                state = None
        except (OSError, ValueError, TypeError, AttributeError):
            state = {}
        last = self.acked
        for name in sorted(os.listdir(self.dir)):
            if not (name.startswith("seg-") and name.endswith(".jsonl")):
                continue
            path = os.path.join(self.dir, name)
            if state is None:  # events of a previous registration of this host
                self._unlink(path)
                continue
            records = _read_records(path)
            if not records or records[-1]["seq"] <= self.acked:
                self._unlink(path)
                continue
            self._segments.append(
                _Segment(path, records[0]["seq"], records[-1]["seq"], len(records))
            )
            last = max(last, records[-1]["seq"])
            self.cursor = max(self.cursor, int(records[-1].get("time_nano") or 0))
        self.next_seq = last + 1
        if state is None:
            self._save_state()

    def _save_state(self) -> None:
        state = {"owner": self.owner, "acked": self.acked, "cursor": self.cursor}
        body = json.dumps(state).encode("utf-8")
        try:
            write_file_atomic(self._state_file, body, 0o600)
        except OSError as exc:
            log.warning("cannot save the event buffer state: %s", exc)

    @staticmethod
    def _unlink(path: str) -> None:
        try:
            os.unlink(path)
        except OSError:
            pass

    # --- writing -------------------------------------------------------------------------
    def append(self, event: Dict[str, Any]) -> Dict[str, Any]:
        """Number the event, write it, enforce the bound; return the numbered record."""
        with self._lock:
            record = self._append(event)
            self.cursor = max(self.cursor, int(event.get("time_nano") or 0))
            self._enforce_bound()
            return record

    def _append(self, event: Dict[str, Any]) -> Dict[str, Any]:
        record = dict(event)
        record["seq"] = self.next_seq
        self.next_seq += 1
        segment = self._segments[-1] if self._segments else None
        if self._file is None or segment is None or segment.count >= self.segment_events:
            self._rotate(record["seq"])
            segment = self._segments[-1]
        line = json.dumps(record, separators=(",", ":")) + "\n"
        self._file.write(line.encode("utf-8"))
        self._file.flush()  # in the kernel: survives the agent; fsync below for the machine
        now = time.monotonic()
        if now - self._synced >= FSYNC_EVERY:
            os.fsync(self._file.fileno())
            self._synced = now
        segment.last = record["seq"]
        segment.count += 1
        self._tail.append(record)
        return record

    def _rotate(self, first_seq: int) -> None:
        self._close_file()
        path = os.path.join(self.dir, "seg-%020d.jsonl" % first_seq)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._file = os.fdopen(fd, "ab")
        self._segments.append(_Segment(path, first_seq, first_seq - 1, 0))

    def _close_file(self) -> None:
        if self._file is not None:
            try:
                self._file.flush()
                os.fsync(self._file.fileno())
            except OSError:
                pass
            self._file.close()
            self._file = None

    def _enforce_bound(self) -> None:
        while sum(s.count for s in self._segments) > self.max_events and len(self._segments) > 1:
            oldest = self._segments.pop(0)
            lost, fresh, first, last = 0, 0, None, 0
            for record in _read_records(oldest.path):
                if record["seq"] <= self.acked:
                    continue
                gap = record.get("gap") if record.get("type") == "gap" else None
                if isinstance(gap, dict):  # an earlier gap: carry its count forward
                    lost += int(gap.get("dropped") or 0)
                    start = int(gap.get("first_seq") or record["seq"])
                else:
                    lost += 1
                    fresh += 1
                    start = record["seq"]
                first = start if first is None else min(first, start)
                last = record["seq"]
            self._unlink(oldest.path)
            self._tail = deque((r for r in self._tail if r["seq"] > oldest.last), maxlen=TAIL_CACHE)
            if not lost:
                continue
            self.dropped += fresh
            log.warning("event buffer full: dropped %d unacknowledged events", fresh)
            self._append(
                {
                    "type": "gap",
                    "action": "dropped",
                    "time_nano": time.time_ns(),
                    "actor": {"id": "", "attributes": {}},
                    "gap": {"dropped": lost, "first_seq": first, "last_seq": last},
                }
            )

    # --- reading and acknowledging -------------------------------------------------------
    def read(self, start_seq: int, limit: int = SEND_BATCH) -> List[Dict[str, Any]]:
        """Up to ``limit`` records with seq >= ``start_seq``, in order."""
        with self._lock:
            if self._tail and self._tail[0]["seq"] <= start_seq:
                return [r for r in self._tail if r["seq"] >= start_seq][:limit]
            out: List[Dict[str, Any]] = []
            for segment in self._segments:
                if segment.last < start_seq or not segment.count:
                    continue
                out.extend(r for r in _read_records(segment.path) if r["seq"] >= start_seq)
                if len(out) >= limit:
                    break
            return out[:limit]

    def ack(self, seq: int) -> None:
        """Everything up to ``seq`` is stored: forget it."""
        with self._lock:
            if seq >= self.next_seq:  # the server has more than we know: our state was lost
                log.warning("the server has events up to %d: numbering continues after it", seq)
                self.next_seq = seq + 1
            if seq <= self.acked:
                return
            self.acked = seq
            while self._segments and self._segments[0].last <= seq:
                segment = self._segments.pop(0)
                if not self._segments:
                    self._close_file()
                self._unlink(segment.path)
            while self._tail and self._tail[0]["seq"] <= seq:
                self._tail.popleft()
            self._save_state()

    @property
    def pending(self) -> int:
        with self._lock:
            return max(self.next_seq - 1 - self.acked, 0)

    def first_unacked(self) -> int:
        with self._lock:
            return self.acked + 1

    def close(self) -> None:
        with self._lock:
            self._close_file()
            self._save_state()


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
