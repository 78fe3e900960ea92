"""The real server in a subprocess (`manage.py serve`, `make run`, a Celery worker), with all of
its output captured in one file: for tests that need several web processes or the server's own
logging configuration."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
import requests
from django.db import connection

from lab.control_plane import free_port as _free_port
from tests.e2e.conftest import _database_url, _redis_url, wait_for

ROOT = Path(__file__).resolve().parents[1]
VENV = Path(sys.executable).parent.parent


class Server:
    """One server process; `url` is where the test reaches it."""

    def __init__(self, command: list[str], env: dict, log: Path, port: int):
        self.command, self.env, self.log, self.port = command, env, log, port
        self.url = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen | None = None

    def start(self, *, healthy: bool = True) -> "Server":
        with open(self.log, "ab") as out:
            # A session of its own: `make run` runs the server as its child, and stopping
            # signals the whole group (make alone would leave the server running).
            self.process = subprocess.Popen(
                self.command,
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        if healthy:
            self.wait_healthy()
        return self

    def wait_healthy(self) -> None:
        wait_for(self._healthy, timeout=60, message=f"{self.url}/healthz")

    def _healthy(self) -> bool:
        if self.process.poll() is not None:
            pytest.fail(f"{self.command} exited:\n{self.output()[-3000:]}")
        try:
            return requests.get(f"{self.url}/healthz", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        """SIGTERM to the process group this test started (by its id), SIGKILL after 15 s."""
        if self.process is None:
            return
        group = self.process.pid
        for sig, grace in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
            try:
                os.killpg(group, sig)
            except ProcessLookupError:
                return
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline:
                self.process.poll()  # reap the leader, or the group never empties
                try:
                    os.killpg(group, 0)
                except ProcessLookupError:
                    return
                time.sleep(0.1)


def production_env(tmp_path: Path, **extra) -> dict:
    """The production topology's environment on the test's PostgreSQL and Redis (a database of
    this xdist worker's own, flushed: no groups or tasks left over)."""
    if connection.vendor != "postgresql" or not os.environ.get("REDIS_URL"):
        pytest.skip("several web processes need the suite's PostgreSQL and Redis")
    redis_url = _redis_url()
    redis.Redis.from_url(redis_url).flushdb()
    return dict(
        os.environ,
        DATABASE_URL=_database_url(),
        REDIS_URL=redis_url,
        DC_VAR_DIR=str(tmp_path / "var"),
        DC_LOG_LEVEL="INFO",
        **extra,
    )


def embedded_env(tmp_path: Path, **extra) -> dict:
    """`make run`'s environment: nothing configured (SQLite under DC_VAR_DIR, in-memory
    broker and layers)."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    return dict(env, DC_VAR_DIR=str(tmp_path / "var"), **extra)


def serve(env: dict, log: Path, *args: str) -> Server:
    port = _free_port()
    command = [sys.executable, "manage.py", "serve", "--port", str(port), "--no-admin", *args]
    return Server(command, env, log, port)


def make_run(env: dict, log: Path, host: str = "127.0.0.1") -> Server:
    """`make run HOST=host`, with this interpreter's environment as the Makefile's .venv (its
    requirements are installed: the stamp is not remade)."""
    port = _free_port()
    runtime = VENV / ".runtime"
    command = ["make", "--no-print-directory", "-o", str(runtime), "run",
               f"VENV={VENV}", f"HOST={host}", f"PORT={port}"]  # fmt: skip
    return Server(command, env, log, port)


def celery_worker(env: dict, log: Path) -> Server:
    command = [sys.executable, "-m", "celery", "-A", "dockercloud", "worker", "--pool",
               "threads", "--concurrency", "2", "--loglevel", "INFO", "--without-mingle",
               "--without-gossip", "--hostname", f"logs-{os.getpid()}@%h"]  # fmt: skip
    return Server(command, env, log, 0)
