"""A lab host's holder: the process that owns the host's private mount and UTS namespaces.

It runs in the host's network namespace, gives itself the host's hostname, a fresh ``/run``
and the host's own directories bound over the machine's (``MOUNTS``, ``FILE_MOUNTS``), says
``ready`` and sleeps. Commands join it with ``nsenter --target HOLDER --mount --uts --net``.
"""

from __future__ import annotations

import select
import shutil
import subprocess
from pathlib import Path

from . import net, state
from .net import LabError
from .sshd import write_shadow

# Path inside the host -> subdirectory of the host's state dir bound over it.
MOUNTS = {
    "/var/lib/docker": "var-lib-docker",
    "/var/lib/dockercloud": "var-lib-dockercloud",
    "/etc/dockercloud": "etc-dockercloud",
    "/opt/dockercloud": "opt-dockercloud",
    "/var/log": "var-log",
}
# Files bound the same way. A private /etc/shadow means a password set inside a host
# (start_sshd, or chpasswd, which then fails) can never change the machine's own.
FILE_MOUNTS = {"/etc/shadow": "lab/shadow"}
# What a root login shell would have; the caller's environment (pytest, a venv, DC_*
# settings) must not leak into the install script or the agent.
BASE_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME": "/root",
    "USER": "root",
    "LOGNAME": "root",
    "SHELL": "/bin/sh",
    "LANG": "C.UTF-8",
}

# Runs as `sh -c HOLDER_SCRIPT sh NAME HOSTDIR MOUNTPOINT SUBDIR ...` in fresh namespaces.
HOLDER_SCRIPT = r"""
set -e
name=$1 dir=$2
shift 2
hostname "$name"
# The new mount namespace copied the machine's mounts, including other hosts' /run/netns/*
# bind mounts: detach them or they would keep those namespaces (and veths) alive.
for m in $(cut -d' ' -f5 /proc/self/mountinfo | grep '^/run/'); do
    umount -l "$m" 2>/dev/null || true
done
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run
mkdir -p /run/lock
while [ $# -gt 0 ]; do
    mount --bind "$dir/$2" "$1"
    shift 2
done
ip link set lo up
echo ready
exec sleep infinity </dev/null >/dev/null 2>&1
"""


def nsenter_prefix(pid: int) -> list[str]:
    return ["nsenter", f"--target={pid}", "--mount", "--uts", "--net", "--"]


def as_argv(cmd: list[str] | str) -> list[str]:
    return ["sh", "-c", cmd] if isinstance(cmd, str) else list(cmd)


def prepare_dirs(host_dir: Path) -> None:
    """The host's state dirs behind its mounts, its private shadow, the machine's mount points."""
    for sub in MOUNTS.values():
        (host_dir / sub).mkdir(parents=True, exist_ok=True)
    (host_dir / "lab").mkdir(exist_ok=True, mode=0o700)
    write_shadow(host_dir / "lab" / "shadow")
    for target in MOUNTS:
        Path(target).mkdir(parents=True, exist_ok=True)


def spawn(*, name: str, netns: str, host_dir: Path) -> subprocess.Popen:
    """Start the holder of host `name`; nsenter and unshare exec (no fork), so the returned
    process's pid is the holder's. Wait for it with :func:`wait_ready`."""
    mounts = {**MOUNTS, **FILE_MOUNTS}
    pairs = [x for target, sub in mounts.items() for x in (target, sub)]
    argv = [
        "nsenter", f"--net={net.netns_path(netns)}", "--",
        "unshare", "--mount", "--uts", "--propagation", "private", "--",
        "sh", "-c", HOLDER_SCRIPT, "sh", name, str(host_dir), *pairs,
    ]  # fmt: skip
    with open(host_dir / "lab" / "holder.log", "wb") as log:
        return subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL,
            start_new_session=True, env=BASE_ENV, cwd="/",
        )  # fmt: skip


def wait_ready(holder: subprocess.Popen, *, name: str, host_dir: Path, timeout: float) -> None:
    """Wait for the holder's ``ready``; else fail with what it logged."""
    out = holder.stdout
    assert out is not None  # spawn() pipes it
    ready, _, _ = select.select([out], [], [], timeout)
    line = out.readline() if ready else b""
    out.close()
    if line.strip() != b"ready":
        log_text = (host_dir / "lab" / "holder.log").read_text(errors="replace")
        raise LabError(f"holder of {name} did not start: {log_text.strip()}")


def remove_tree(path: Path) -> None:
    """Delete a host's state dir, first detaching anything mounted under it on the machine."""
    if path.parent != state.HOSTS_DIR:  # a damaged record must not make us rm -rf elsewhere
        raise LabError(f"refusing to delete {path}: not a lab host dir")
    prefix = str(path) + "/"
    mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    for mnt in sorted((m for m in mounts if m.startswith(prefix)), reverse=True):
        subprocess.run(["umount", "-l", mnt], capture_output=True)
    shutil.rmtree(path, ignore_errors=True)
