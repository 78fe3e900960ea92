"""Finding and stopping a lab host's processes by pid, through /proc.

A host's processes are those sharing the holder's mount or network namespace, plus their
descendants (container processes live in namespaces of their own but are children of a
containerd shim that runs in the host). Nothing here ever matches processes by name: other
work runs on the same machine.

Namespaces are compared by (device, inode) while *pinned* by an open fd: the kernel hands a
freed namespace's inode number to the next new namespace at once (a container's, say), so
comparing against a number whose namespace may have died would kill a stranger.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

PROC = Path("/proc")
NsIdent = tuple[int, int]


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (which may contain spaces)."""
    try:
        raw = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()


def start_time(pid: int) -> int | None:
    """Start time in clock ticks since boot: with the pid it identifies a process for good."""
    fields = _stat_fields(pid)
    return int(fields[19]) if fields else None


def is_alive(pid: int) -> bool:
    """True while the process exists and is not a zombie waiting for its parent."""
    fields = _stat_fields(pid)
    return bool(fields and fields[0] not in ("Z", "X"))


def ns_id(pid: int, kind: str) -> str | None:
    """The namespace link of a process, e.g. ``mnt:[4026532201]``; None if gone."""
    try:
        return os.readlink(PROC / str(pid) / "ns" / kind)
    except OSError:
        return None


def ns_ident(path: str | Path) -> NsIdent | None:
    """(device, inode) of the namespace file ``path`` (``/proc/PID/ns/mnt``, a netns mount)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _proc_ns(pid: int, kind: str) -> NsIdent | None:
    return ns_ident(PROC / str(pid) / "ns" / kind)


@contextlib.contextmanager
def pinned(path: str | Path | None) -> Iterator[NsIdent | None]:
    """Hold the namespace at ``path`` open and yield its identity (None if unavailable)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC) if path else None
    except OSError:
        fd = None
    if fd is None:
        yield None
        return
    try:
        st = os.fstat(fd)
        yield st.st_dev, st.st_ino
    finally:
        os.close(fd)


def _all_pids() -> list[int]:
    return [int(p.name) for p in PROC.iterdir() if p.name.isdigit()]


def _parents() -> dict[int, int]:
    parents = {}
    for pid in _all_pids():
        fields = _stat_fields(pid)
        if fields:
            parents[pid] = int(fields[1])
    return parents


def pids_in_ns(*, mnt: NsIdent | None = None, net: NsIdent | None = None) -> set[int]:
    """Pids whose mount namespace is ``mnt`` or whose network namespace is ``net`` (both
    pinned by the caller, see :func:`pinned`)."""
    found = set()
    for pid in _all_pids():
        if (mnt and _proc_ns(pid, "mnt") == mnt) or (net and _proc_ns(pid, "net") == net):
            found.add(pid)
    return found


def with_descendants(roots: Iterable[int]) -> set[int]:
    parents = _parents()
    result = set(roots)
    grew = True
    while grew:
        children = {pid for pid, ppid in parents.items() if ppid in result} - result
        result |= children
        grew = bool(children)
    return result


def host_pids(*, mnt: NsIdent | None, net: NsIdent | None) -> set[int]:
    """Every live process belonging to a host, never including the caller."""
    pids = with_descendants(pids_in_ns(mnt=mnt, net=net))
    pids.discard(os.getpid())
    return {pid for pid in pids if is_alive(pid)}


def signal_pids(pids: Iterable[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def wait_gone(pids: Iterable[int], timeout: float) -> set[int]:
    """Wait until all ``pids`` are gone; return those still alive at the deadline."""
    deadline = time.monotonic() + timeout
    left = set(pids)
    while True:
        left = {pid for pid in left if is_alive(pid)}
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.02)


def cgroup_dirs(pid: int) -> set[Path]:
    """Non-root cgroup v1/v2 directories a process sits in (to clean up after SIGKILL)."""
    try:
        lines = (PROC / str(pid) / "cgroup").read_text().splitlines()
    except OSError:
        return set()
    dirs = set()
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if path in ("", "/"):
            continue
        for ctrl in controllers.split(",") if controllers else [""]:
            ctrl = ctrl.removeprefix("name=")
            dirs.add(Path("/sys/fs/cgroup", ctrl, path.lstrip("/")))
    return dirs


def remove_empty_cgroups(dirs: Iterable[Path]) -> None:
    """rmdir cgroups deepest first; a cgroup still in use refuses (EBUSY), which is fine."""
    for path in sorted(dirs, key=lambda p: len(p.parts), reverse=True):
        try:
            path.rmdir()
        except OSError:
            pass


def stop_host_processes(
    *, holder: int | None, mnt: NsIdent | None, net: NsIdent | None, grace: float = 5.0
) -> None:
    """Stop a host: SIGTERM the roots of its process trees, SIGKILL what is left, the holder
    last.

    Only roots (processes whose parent is outside the host, e.g. dockerd, a shim re-parented
    to init) get SIGTERM: each stops its own children in order, whereas a SIGTERM to
    dockerd's containerd as well makes dockerd wait 15 s for it. Container processes (other
    namespaces) get SIGKILL at once: a container's pid 1 ignores SIGTERM. The caller keeps
    ``mnt`` and ``net`` pinned throughout.
    """
    pids = host_pids(mnt=mnt, net=net)
    others = pids - {holder}
    parents = _parents()
    containers = {p for p in others if _proc_ns(p, "mnt") != mnt and _proc_ns(p, "net") != net}
    # Only containers' cgroups (made by the host's dockerd, normally removed by it): the
    # daemons sit in cgroups they inherited from the machine, which are not ours to remove.
    cgroups = set().union(*(cgroup_dirs(pid) for pid in containers)) - cgroup_dirs(os.getpid())
    roots = {pid for pid in others - containers if parents.get(pid) not in pids}
    signal_pids(containers, signal.SIGKILL)
    signal_pids(roots, signal.SIGTERM)
    left = wait_gone(others, grace)
    # New processes may have started meanwhile (a daemon restarting a child): rescan.
    for _ in range(3):
        left |= host_pids(mnt=mnt, net=net)
        if not left:
            break
        signal_pids(left, signal.SIGKILL)
        left = wait_gone(left, grace)
    remove_empty_cgroups(cgroups)
