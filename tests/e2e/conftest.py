"""A live control plane for end-to-end tests with real lab hosts.

The server is the real `manage.py serve` (uvicorn + Channels + in-process Celery worker and
beat) in a subprocess, on the test's own PostgreSQL database and its own Redis database, so
what the hosts do through it is visible to the test.
"""

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from channels.layers import channel_layers
from django.db import connection

from lab import net

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


@dataclass
class ControlPlane:
    url: str  # as the test reaches it
    public_url: str  # as lab hosts reach it
    process: subprocess.Popen
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
def control_plane(transactional_db, settings, tmp_path):
    if connection.vendor != "postgresql" or not os.environ.get("REDIS_URL"):
        pytest.skip("the live control plane needs the suite's PostgreSQL and Redis")
    port = _free_port()
    redis_url = _redis_url()
    env = dict(
        os.environ,
        DATABASE_URL=_database_url(),
        REDIS_URL=redis_url,
        DC_PUBLIC_URL=f"http://{net.GATEWAY}:{port}",
        DC_VAR_DIR=str(tmp_path / "var"),
        DC_HEARTBEAT_INTERVAL=str(HEARTBEAT),
        DC_SWEEP_INTERVAL="1",
        # Lab hosts share the machine's packages: an upgrade only restarts the daemon.
        DC_UPGRADE_DOCKER_COMMAND="true",
        DC_EMBEDDED_WORKERS="2",
        DC_LOG_LEVEL="INFO",
    )
    log = tmp_path / "control-plane.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "serve", "--host", ALL_INTERFACES, "--port", str(port),
             "--no-admin", "--with-worker"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    # This process relays tunnel streams too: same Redis database as the server.
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [redis_url], "prefix": "dc", "capacity": 2000},
        }
    }
    channel_layers.backends.clear()
    cp = ControlPlane(f"http://127.0.0.1:{port}", env["DC_PUBLIC_URL"], process, log)

    def healthy():
        if process.poll() is not None:
            pytest.fail(f"control plane exited:\n{cp.log_text()[-3000:]}")
        try:
            return requests.get(f"{cp.url}/healthz", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    try:
        wait_for(healthy, timeout=30, message="the control plane's /healthz")
        yield cp
    finally:
        # Shown by pytest only when the test fails: what the server saw.
        print("---- control plane log (last 60 lines) ----")
        print("\n".join(cp.log_text().splitlines()[-60:]))
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        channel_layers.backends.clear()


@pytest.fixture(scope="session")
def stock_clients_dir():
    from .stock_clients import install_clients, require_python27

    py27 = require_python27()
    return py27, install_clients(py27)
