"""The agent's event buffer: numbered Docker events on disk until the server acknowledges them.

Every event gets the node's next sequence number and is appended to a segment file under
/var/lib/dockercloud/events/ before it is sent (``events.EventShipper``); fully acknowledged
segments are deleted. ``state.json`` beside them keeps the highest acknowledged seq, the
newest daemon time seen and the node uuid they belong to (another registration of the host
starts a new sequence).

The buffer is bounded: past ``max_events`` kept events the oldest segment is deleted and a
``gap`` event (``"gap": {"dropped", "first_seq", "last_seq"}``) is appended, counting the
events lost (and those counted by any gap event deleted with them).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import deque
from typing import Any, Deque, Dict, List, Optional

from .config import Paths, write_file_atomic

log = logging.getLogger("dockercloud.events")

DEFAULT_MAX_EVENTS = 100000
SEGMENT_EVENTS = 1000
SEND_BATCH = 500
FSYNC_EVERY = 1.0
TAIL_CACHE = 2000


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
