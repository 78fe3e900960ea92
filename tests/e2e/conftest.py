"""A live control plane for end-to-end tests with real lab hosts.

The server is the real `manage.py serve` (uvicorn + Channels + in-process Celery worker and
beat) in a subprocess, on the test's own PostgreSQL database and its own Redis database, so
what the hosts do through it is visible to the test.
"""

import os
import time

import pytest
import redis
from channels.layers import channel_layers
from django.db import connection

from lab import state
from lab.control_plane import ControlPlane, free_port
from lab.control_plane import control_plane_env as base_env
from lab.pytest_plugin import LOCK_TIMEOUT

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


@pytest.fixture
def control_plane_env() -> dict:
    """Settings of the control plane's processes beyond the defaults below (a test module
    overrides this fixture)."""
    return {}


@pytest.fixture
def control_plane(transactional_db, settings, tmp_path, control_plane_env):
    if connection.vendor != "postgresql" or not os.environ.get("REDIS_URL"):
        pytest.skip("the live control plane needs the suite's PostgreSQL and Redis")
    port = free_port()
    redis_url = _redis_url()
    # Nothing left over from an earlier test on this worker (queued tasks, groups, locks).
    redis.Redis.from_url(redis_url).flushdb()
    env = base_env(
        database_url=_database_url(),
        redis_url=redis_url,
        port=port,
        var_dir=tmp_path / "var",
        heartbeat=HEARTBEAT,
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
