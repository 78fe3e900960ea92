"""`supervise`: keep `run` alive where there is no systemd (restart with backoff)."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from typing import List, Optional

from . import EXIT_FINAL
from .agent import package_zip
from .config import Paths
from .dockerd import pid_alive, process_cmdline, read_pidfile

log = logging.getLogger("dockercloud.supervise")

BACKOFF_START = 1.0
BACKOFF_MAX = 60.0
STABLE_AFTER = 60.0


def agent_command(root: str) -> List[str]:
    """How to start `run` from the code we are running (the zipapp, or the source tree)."""
    zipped = package_zip()
    base = [sys.executable, zipped] if zipped else [sys.executable, "-m", "dockercloud_agent"]
    cmd = base + ["run"]
    if os.path.abspath(root) != "/":
        cmd += ["--root", root]
    return cmd


def _child_env() -> dict:
    env = dict(os.environ)
    if not package_zip():
        src = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    return env


def running_supervisor(paths: Paths) -> Optional[int]:
    pid = read_pidfile(paths.supervise_pid)
    alive = pid is not None and pid != os.getpid() and pid_alive(pid)
    if alive and any(a == "supervise" for a in process_cmdline(pid or 0)):
        return pid
    return None


def supervise(paths: Paths, root: str) -> int:
    paths.ensure_dirs()
    other = running_supervisor(paths)
    if other:
        log.error("a supervisor is already running (pid %d)", other)
        return 1
    with open(paths.supervise_pid, "w", encoding="ascii") as f:
        f.write("%d\n" % os.getpid())

    stopping = threading.Event()
    child: List[subprocess.Popen] = []

    def on_signal(signum, _frame):
        stopping.set()
        for proc in child:
            if proc.poll() is None:
                try:
                    proc.send_signal(signal.SIGTERM)
                except OSError:
                    pass

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)

    cmd = agent_command(root)
    delay = BACKOFF_START
    status = 0
    try:
        while not stopping.is_set():
            began = time.monotonic()
            log.info("starting the agent: %s", " ".join(cmd))
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, env=_child_env())
            child[:] = [proc]
            if stopping.is_set():  # a signal came before the child was known
                proc.terminate()
            rc = proc.wait()
            if stopping.is_set():
                break
            if rc == EXIT_FINAL:
                log.info(
                    "the agent exited with status %d (deregistered or not registered): "
                    "not restarting it",
                    rc,
                )
                break
            if time.monotonic() - began >= STABLE_AFTER:
                delay = BACKOFF_START
            log.warning("the agent exited with status %d; restarting in %.0fs", rc, delay)
            stopping.wait(delay)
            delay = min(delay * 2, BACKOFF_MAX)
    finally:
        for proc in child:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
        if read_pidfile(paths.supervise_pid) == os.getpid():
            try:
                os.unlink(paths.supervise_pid)
            except OSError:
                pass
    return status
