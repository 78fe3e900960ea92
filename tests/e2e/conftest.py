"""A live control plane for end-to-end tests with real lab hosts.

The server is the real `manage.py serve` (uvicorn + Channels + in-process Celery worker and
beat) in a subprocess, on the test's own PostgreSQL database and its own Redis database, so
what the hosts do through it is visible to the test.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
import requests
from channels.layers import channel_layers
from django.db import connection

from lab import net, state
from lab.pytest_plugin import LOCK_TIMEOUT

ROOT = Path(__file__).resolve().parents[2]
ALL_INTERFACES = "0.0.0.0"  # noqa: S104 (lab hosts reach the server at the lab gateway)
HEARTBEAT = 2  # seconds; 3 missed heartbeats make a node Unreachable


def wait_for(
    condition, *, timeout: float, interval: float = 0.2, message: str = "condition", seen=None
):
    """Poll `condition` until it returns a truthy value; fail with `message` at the deadline.

    `seen`, if given, describes the state at the deadline for the failure message.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            detail = f" ({seen()})" if seen else ""
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {message}{detail}")
        time.sleep(interval)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((ALL_INTERFACES, 0))
        return sock.getsockname()[1]


def _database_url() -> str:
    s = connection.settings_dict
    return f"postgres://{s['USER']}@{s['HOST']}:{s['PORT']}/{s['NAME']}"


def _redis_url() -> str:
    """A Redis database of this xdist worker's own: brokers and channel groups never mix."""
    base = os.environ["REDIS_URL"].rsplit("/", 1)[0]
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return f"{base}/{1 + int(worker.removeprefix('gw') or 0)}"


def use_server_layers(settings, redis_url: str) -> None:
    """This process relays tunnel streams and emits events too: on the server's Redis database
    (`settings` is pytest-django's fixture, which restores them after the test)."""
    layers = {**settings.CHANNEL_LAYERS}
    layers["default"] = {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [redis_url], "prefix": "dc", "capacity": 2000},
    }
    if "events" in layers:
        layers["events"] = {
            **layers["events"],
            "CONFIG": {**layers["events"].get("CONFIG", {}), "hosts": [redis_url]},
        }
    settings.CHANNEL_LAYERS = layers
    channel_layers.backends.clear()


CELERY = [sys.executable, "-m", "celery", "-A", "dockercloud"]


class ControlPlane:
    """The production topology in subprocesses: `manage.py serve`, a Celery worker and beat.

    `crash()` kills all three at once (mid-task, as a machine crash would); `start()` again.
    `kill_worker()` kills the worker alone; `start_worker()` starts another.
    """

    def __init__(self, port: int, env: dict, log: Path):
        self.port, self.env, self.log = port, env, log
        self.url = f"http://127.0.0.1:{port}"  # as the test reaches it
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

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.processes = [
                subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT)
                for cmd in self.commands
            ]
        wait_for(self._healthy, timeout=30, message="the control plane's /healthz")

    def _healthy(self) -> bool:
        for process in self.processes:
            if process.poll() is not None:
                pytest.fail(f"{process.args[2:4]} exited:\n{self.log_text()[-3000:]}")
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


@pytest.fixture
def control_plane_env() -> dict:
    """Settings of the control plane's processes beyond the defaults below (a test module
    overrides this fixture)."""
    return {}


@pytest.fixture
def control_plane(transactional_db, settings, tmp_path, control_plane_env):
    if connection.vendor != "postgresql" or not os.environ.get("REDIS_URL"):
        pytest.skip("the live control plane needs the suite's PostgreSQL and Redis")
    port = _free_port()
    redis_url = _redis_url()
    # Nothing left over from an earlier test on this worker (queued tasks, groups, locks).
    redis.Redis.from_url(redis_url).flushdb()
    env = dict(
        os.environ,
        DATABASE_URL=_database_url(),
        REDIS_URL=redis_url,
        DC_PUBLIC_URL=f"http://{net.GATEWAY}:{port}",
        # Served on every interface: DEBUG off, host names from DC_PUBLIC_URL (and loopback).
        DC_BIND_HOST=ALL_INTERFACES,
        DC_VAR_DIR=str(tmp_path / "var"),
        DC_HEARTBEAT_INTERVAL=str(HEARTBEAT),
        DC_SWEEP_INTERVAL="1",
        DC_RECONCILE_INTERVAL="2",
        DC_RECONCILE_LOCK_SECONDS="15",
        # Lab hosts share the machine's packages: an upgrade only restarts the daemon.
        DC_UPGRADE_DOCKER_COMMAND="true",
        DC_LOG_LEVEL="INFO",
    )
    env.update(control_plane_env)
    use_server_layers(settings, redis_url)
    cp = ControlPlane(port, env, tmp_path / "control-plane.log")
    # The local provider makes lab hosts for this test: hold the lab like the `lab_hosts`
    # fixture does, so a `lab_exclusive` test never sees them come and go.
    with state.session(shared=True, timeout=LOCK_TIMEOUT):
        try:
            cp.start()
            yield cp
        finally:
            # Shown by pytest only when the test fails: what the server saw.
            print("---- control plane log (last 60 lines) ----")
            print("\n".join(cp.log_text().splitlines()[-60:]))
            cp.stop()
            channel_layers.backends.clear()


@pytest.fixture(scope="session")
def stock_clients_dir():
    from .stock_clients import install_clients, require_python27

    py27 = require_python27()
    return py27, install_clients(py27)
