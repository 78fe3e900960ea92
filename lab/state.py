"""On-disk lab state: one lock and one JSON record per host under ``STATE_DIR``.

Everything that allocates or frees lab-wide resources (names, addresses, the bridge, the
iptables rules) happens under :func:`locked`, an ``flock`` on one file, so pytest-xdist
workers, fixtures and a CLI ``up``/``down`` can run side by side.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

STATE_DIR = Path("/var/lib/dclab")
HOSTS_DIR = STATE_DIR / "hosts"
LOCK_FILE = STATE_DIR / "lock"
NET_FILE = STATE_DIR / "net.json"
# Fixtures hold this shared; a test that must see the whole machine quiet (before/after
# snapshots of `ip link`) holds it exclusive.
SESSION_LOCK_FILE = STATE_DIR / "session.lock"
# Taken by an exclusive session holder while it waits, so that a stream of shared holders
# (tests one after another on another worker) cannot starve it: flock has no writer preference.
SESSION_GATE_FILE = STATE_DIR / "session.gate"
_shared_sessions = 0  # shared session locks this process holds (they re-enter past the gate)


def ensure_dirs() -> None:
    HOSTS_DIR.mkdir(parents=True, exist_ok=True, mode=0o700)


@contextlib.contextmanager
def locked(
    path: Path = LOCK_FILE, *, shared: bool = False, timeout: float | None = None
) -> Iterator[None]:
    """Hold an flock on ``path``; a fresh fd each time, so threads exclude each other too.

    With ``timeout``, give up with :class:`TimeoutError` instead of waiting forever.
    """
    ensure_dirs()
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        _acquire(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX, timeout, path)
        yield
    finally:
        os.close(fd)  # closing releases the lock


@contextlib.contextmanager
def session(*, shared: bool, timeout: float | None = None) -> Iterator[None]:
    """The lab session lock: shared for tests that hold lab hosts, exclusive for a test that
    must see the machine quiet. A waiting exclusive holder goes first: new shared holders queue
    behind it, except in a process that holds the lock shared already (it would deadlock)."""
    global _shared_sessions
    if not shared:
        with locked(SESSION_GATE_FILE, timeout=timeout):
            with locked(SESSION_LOCK_FILE, timeout=timeout):
                yield
        return
    with contextlib.ExitStack() as stack:
        gate = contextlib.ExitStack()
        if not _shared_sessions:
            gate.enter_context(locked(SESSION_GATE_FILE, timeout=timeout))
        with gate:  # passed once the lock is held: only a waiting exclusive holder keeps it
            stack.enter_context(locked(SESSION_LOCK_FILE, shared=True, timeout=timeout))
        _shared_sessions += 1
        try:
            yield
        finally:
            _shared_sessions -= 1


def _acquire(fd: int, mode: int, timeout: float | None, path: Path) -> None:
    if timeout is None:
        fcntl.flock(fd, mode)
        return
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{path} still locked after {timeout:.0f} s") from None
            time.sleep(0.05)


def record_path(name: str) -> Path:
    return HOSTS_DIR / f"{name}.json"


def host_dir(name: str) -> Path:
    return HOSTS_DIR / name


def write_json(path: Path, data: dict) -> None:
    """Write atomically so a reader never sees half a record."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    os.replace(tmp, path)


def read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def write_record(record: dict) -> None:
    ensure_dirs()
    write_json(record_path(record["name"]), record)


def read_record(name: str) -> dict | None:
    return read_json(record_path(name))


def delete_record(name: str) -> None:
    record_path(name).unlink(missing_ok=True)


def all_records() -> list[dict]:
    if not HOSTS_DIR.is_dir():
        return []
    records = (read_json(p) for p in sorted(HOSTS_DIR.glob("*.json")))
    return [r for r in records if r]
