"""A live control plane for lab hosts to talk to: the production topology (`manage.py serve`, a
Celery worker and beat) in subprocesses, on a database and a Redis database the caller gives.

Shared by the end-to-end tests (tests/e2e/conftest.py wraps it in a fixture) and the deploy
benchmark (bench/deploys.py). Served on every interface so lab hosts reach it at the lab
gateway; the caller reaches it on loopback.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from . import net

ROOT = Path(__file__).resolve().parent.parent
ALL_INTERFACES = "0.0.0.0"  # noqa: S104 (lab hosts reach the server at the lab gateway)
CELERY = [sys.executable, "-m", "celery", "-A", "dockercloud"]


class ControlPlaneError(RuntimeError):
    """A process of the control plane exited, or it did not answer in time."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((ALL_INTERFACES, 0))
        return sock.getsockname()[1]


def control_plane_env(
    *, database_url: str, redis_url: str, port: int, var_dir: Path, heartbeat: int = 2
) -> dict:
    """The environment of the control plane's processes: the lab's fast intervals (a node is
    Unreachable after 3 missed heartbeats of `heartbeat` seconds)."""
    return dict(
        os.environ,
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        DC_PUBLIC_URL=f"http://{net.GATEWAY}:{port}",
        # Served on every interface: DEBUG off, host names from DC_PUBLIC_URL (and loopback).
        DC_BIND_HOST=ALL_INTERFACES,
        DC_VAR_DIR=str(var_dir),
        DC_HEARTBEAT_INTERVAL=str(heartbeat),
        DC_SWEEP_INTERVAL="1",
        DC_RECONCILE_INTERVAL="2",
        DC_RECONCILE_LOCK_SECONDS="15",
        # Lab hosts share the machine's packages: an upgrade only restarts the daemon.
        DC_UPGRADE_DOCKER_COMMAND="true",
        DC_LOG_LEVEL="INFO",
    )


class ControlPlane:
    """`manage.py serve`, a Celery worker and beat, started by `start()`.

    `crash()` kills all three at once (mid-task, as a machine crash would); `start()` again.
    `kill_worker()` kills the worker alone; `start_worker()` starts another.
    """

    def __init__(self, port: int, env: dict, log: Path):
        self.port, self.env, self.log = port, env, log
        self.url = f"http://127.0.0.1:{port}"  # as the caller reaches it
        self.public_url = env["DC_PUBLIC_URL"]  # as lab hosts reach it
        self.processes: list[subprocess.Popen] = []
        self.commands = [
            [sys.executable, "manage.py", "serve", "--host", ALL_INTERFACES,
             "--port", str(port), "--no-admin"],
            [*CELERY, "worker", "--pool", "threads", "--concurrency", "4", "--loglevel", "INFO",
             "--without-mingle", "--without-gossip", "--hostname", f"e2e-{port}@%h"],
            [*CELERY, "beat", "--loglevel", "INFO"],
        ]  # fmt: skip

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def start(self, *, timeout: float = 30) -> None:
        with open(self.log, "ab") as out:
            self.processes = [
                subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT)
                for cmd in self.commands
            ]
        deadline = time.monotonic() + timeout
        while not self._healthy():
            if time.monotonic() > deadline:
                raise ControlPlaneError(
                    f"the control plane's /healthz did not answer in {timeout:.0f} s"
                )
            time.sleep(0.2)

    def _healthy(self) -> bool:
        for process in self.processes:
            if process.poll() is not None:
                raise ControlPlaneError(f"{process.args[2:4]} exited:\n{self.log_text()[-3000:]}")
        try:
            return requests.get(f"{self.url}/healthz", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def kill_worker(self) -> None:
        """SIGKILL the Celery worker alone, by its pid, mid-task; web and beat go on."""
        worker = self.processes[1]
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()

    def start_worker(self) -> None:
        """A new worker in the dead one's place (as a supervisor would start)."""
        with open(self.log, "ab") as out:
            self.processes[1] = subprocess.Popen(
                self.commands[1], cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )

    def crash(self) -> None:
        """SIGKILL: web, worker and beat die at once, mid-task."""
        for process in self.processes:
            process.kill()
        for process in self.processes:
            process.wait()

    def stop(self) -> None:
        if not self.processes:
            return
        *graceful, beat = self.processes
        beat.kill()  # nothing to flush, and a TERM while it is still loading is not heard
        for process in graceful:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
