"""pytest plugin for tests that need real lab hosts (``pytest_plugins = ["lab.pytest_plugin"]``).

Tests marked ``lab`` (or using a lab fixture) are skipped with one clear reason when the
machine cannot run the lab (not root, tools missing); with ``DC_REQUIRE_LAB=1`` (CI on a lab
machine) they fail instead, so a broken lab cannot pass as "skipped".

Fixtures: ``lab_host``, ``lab_hosts`` (factory), ``busybox_tar``, ``lab_gateway`` and
``lab_exclusive`` (the whole lab to this test, for before/after snapshots of the machine).
"""

from __future__ import annotations

import concurrent.futures
import os
from pathlib import Path

import pytest

from . import hosts, image, net, state
from .prereq import lab_available

__all__ = ["lab_available"]
LOCK_TIMEOUT = 300.0


def require_lab() -> None:
    ok, reason = lab_available()
    if ok:
        return
    if os.environ.get("DC_REQUIRE_LAB") == "1":
        pytest.fail(f"DC_REQUIRE_LAB=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "lab: needs root and the lab (namespaces, dockerd)")
    config.addinivalue_line("markers", "slow: takes seconds rather than milliseconds")


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("lab"):
        require_lab()


def _destroy_all(created: list[hosts.Host]) -> None:
    """Destroy hosts in parallel (each waits ~1 s for its dockerd); raise the first error."""
    if not created:
        return
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(created)) as pool:
        futures = [pool.submit(h.destroy) for h in created]
    errors = [f.exception() for f in futures if f.exception()]
    if errors:
        raise errors[0]


@pytest.fixture
def lab_hosts():
    """Factory: ``lab_hosts(n, sshd=False, password=None, authorized_keys=None,
    firewall_2375=False)`` returns ``n`` fresh hosts, all destroyed after the test."""
    require_lab()
    created: list[hosts.Host] = []

    def make(
        n: int = 1,
        *,
        sshd: bool = False,
        password: str | None = None,
        authorized_keys=None,
        firewall_2375: bool = False,
    ) -> list[hosts.Host]:
        new = []
        for _ in range(n):
            host = hosts.create_host()
            created.append(host)
            new.append(host)
            if sshd:
                host.start_sshd(password=password, authorized_keys=authorized_keys)
            if firewall_2375:
                host.firewall_port(2375)
        return new

    # Shared: any number of tests may hold hosts; `lab_exclusive` waits for all to finish.
    with state.session(shared=True, timeout=LOCK_TIMEOUT):
        try:
            yield make
        finally:
            _destroy_all(created)


@pytest.fixture
def lab_host(lab_hosts) -> hosts.Host:
    """One fresh lab host, destroyed after the test."""
    return lab_hosts(1)[0]


@pytest.fixture
def lab_exclusive():
    """No fixture-made hosts exist while the test runs (hosts made by hand may)."""
    require_lab()
    with state.session(shared=False, timeout=LOCK_TIMEOUT):
        yield


@pytest.fixture(scope="session")
def busybox_tar() -> Path:
    """Path of the cached busybox rootfs tar (``docker import`` it, or use import_busybox)."""
    require_lab()
    return image.busybox_rootfs_tar()


@pytest.fixture(scope="session")
def lab_gateway() -> str:
    """The machine's address on the lab bridge: a server on 0.0.0.0 is reachable there."""
    return net.GATEWAY
