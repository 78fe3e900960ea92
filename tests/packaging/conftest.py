"""The packaging test runs as its own phase of `make test`, in the background beside the main
suite (scripts/test.sh). If that script stops early it sends SIGTERM: turn it into the
KeyboardInterrupt pytest handles, so fixtures still tear down what they started (the compose
topology, the lab hosts)."""

import contextlib
import signal
from pathlib import Path

import pytest

from lab import hosts, state
from lab.pytest_plugin import LOCK_TIMEOUT, _destroy_all, require_lab


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_configure(config):
    signal.signal(signal.SIGTERM, _interrupt)


@pytest.fixture
def lab_hosts_between_sessions():
    """Factory like ``lab_hosts``, but the lab session is held only while hosts are made and
    destroyed, not for the minutes this test keeps them: a ``lab_exclusive`` test of the main
    suite (running beside this phase) would otherwise wait that long, and every lab test behind
    it. Its before/after snapshots of the machine still hold, as hosts are neither made nor
    removed while it runs, and nothing in between changes the machine's own network (the
    daemons and containers live in the hosts' namespaces)."""
    require_lab()
    created: list = []

    def make(n: int):
        with state.session(shared=True, timeout=LOCK_TIMEOUT):
            for _ in range(n):
                created.append(hosts.create_host())
        return created[-n:]

    try:
        yield make
    finally:
        with state.session(shared=True, timeout=LOCK_TIMEOUT):
            _destroy_all(created)
        # The cgroups a host's dockerd put its containers in (`cgroup_of`), empty now that
        # every process of the host is gone, even if the test stopped halfway.
        for host in created:
            for controller in CGROUP_ROOT.iterdir():
                with contextlib.suppress(OSError):
                    (controller / cgroup_of(host).lstrip("/")).rmdir()


CGROUP_ROOT = Path("/sys/fs/cgroup")


def cgroup_of(host) -> str:
    """The cgroup parent for the containers of a dockerd started in ``host``."""
    return f"/dcpkg-{host.name}"
