from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable, Iterator, Optional, TypeVar

import pytest

from dockercloud_agent.agent import Agent
from dockercloud_agent.config import Config, Paths
from dockercloud_agent.dockerapi import DockerAPI
from dockercloud_agent.dockerd import pid_alive, read_pidfile
from dockercloud_agent.facts import dockerd_binary

AGENT_DIR = Path(__file__).resolve().parents[1]
REPO_DIR = AGENT_DIR.parent
PYTHON38 = os.path.expanduser("~/.pyenv/versions/3.8.18/bin/python3.8")

T = TypeVar("T")


def wait_until(check: Callable[[], T], timeout: float, what: str, every: float = 0.05) -> T:
    """Poll ``check`` until it returns something truthy; fail at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.0fs waiting for %s" % (timeout, what))
        time.sleep(every)


def python38() -> Optional[str]:
    if os.access(PYTHON38, os.X_OK):
        return PYTHON38
    return shutil.which("python3.8")


def dockerd_skip_reason() -> Optional[str]:
    if os.geteuid() != 0:
        return "needs root to run a real dockerd"
    if not dockerd_binary():
        return "no dockerd on this machine (apt-get install docker.io)"
    return None


needs_dockerd = pytest.mark.skipif(
    dockerd_skip_reason() is not None, reason=str(dockerd_skip_reason())
)


def kill_pid(pid: Optional[int], timeout: float = 20) -> None:
    if not pid or not pid_alive(pid):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
        time.sleep(0.05)


def unmount_under(path: str) -> None:
    """Unmount what a daemon left below ``path`` (dockerd makes its data root a shared bind
    mount of itself and does not undo it after a SIGKILL), deepest first."""
    prefix = os.path.realpath(path) + "/"
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    for point in sorted((p for p in points if p.startswith(prefix)), reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True)


def remove_tree(path: str) -> None:
    unmount_under(path)
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def short_tmp() -> Iterator[str]:
    """A short temp dir (unix socket paths must stay under 108 bytes)."""
    path = tempfile.mkdtemp(prefix="dca-", dir="/tmp")
    yield path
    remove_tree(path)


class LocalDockerd:
    def __init__(self, base: str) -> None:
        self.base = base
        self.sock = os.path.join(base, "docker.sock")
        self.pidfile = os.path.join(base, "pid")
        self.api = DockerAPI(self.sock)
        self.proc: Optional[subprocess.Popen] = None

    def start(self) -> None:
        cmd = [
            str(dockerd_binary()),
            "--data-root",
            os.path.join(self.base, "data"),
            "--exec-root",
            os.path.join(self.base, "exec"),
            "--pidfile",
            self.pidfile,
            "-H",
            "unix://" + self.sock,
            "--bridge=none",
            "--iptables=false",
            "--ip-forward=false",
        ]
        with open(os.path.join(self.base, "dockerd.log"), "ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        wait_until(lambda: self.proc.poll() is not None or self.api.ping(), 30, "dockerd ping")
        assert self.proc.poll() is None, "dockerd exited: see %s/dockerd.log" % self.base

    def stop(self) -> None:
        pid = read_pidfile(self.pidfile) or (self.proc.pid if self.proc else None)
        kill_pid(pid)
        if self.proc is not None:
            self.proc.wait(timeout=10)


@pytest.fixture(scope="session")
def dockerd() -> Iterator[LocalDockerd]:
    reason = dockerd_skip_reason()
    if reason:
        pytest.skip(reason)
    base = tempfile.mkdtemp(prefix="dcd-", dir="/tmp")
    daemon = LocalDockerd(base)
    try:
        daemon.start()
        yield daemon
    finally:
        daemon.stop()
        remove_tree(base)


@pytest.fixture(scope="session")
def pyz(tmp_path_factory: pytest.TempPathFactory) -> str:
    import sys

    sys.path.insert(0, str(AGENT_DIR))
    from build_zipapp import build

    path = str(tmp_path_factory.mktemp("pyz") / "dockercloud-agent.pyz")
    build(path)
    return path


@pytest.fixture
def agent_for(short_tmp):
    started = []

    def make(cp, **extra) -> Agent:
        """An agent registered with ``cp`` (its config written as registration writes it),
        connected, without dockerd (it reports it down)."""
        paths = Paths(short_tmp)
        paths.ensure_dirs()
        data = {
            "server": cp.http_url,
            "ws_url": cp.ws_url,
            "node_uuid": cp.node_uuid,
            "secret": cp.secret,
            "heartbeat_interval": 15,
            "signing_key": cp.signing_key_b64,
        }
        data.update(extra)
        Config(data).save(paths)
        agent = Agent(paths, Config.load(paths))
        agent.start_heartbeats()
        thread = threading.Thread(target=agent.channel.run, daemon=True)
        thread.start()
        started.append((agent, thread))
        return agent

    yield make
    for agent, thread in started:
        agent.stop()
        thread.join(timeout=10)
        assert not thread.is_alive()


@pytest.fixture
def control_plane():
    from fakecp import FakeControlPlane

    cp = FakeControlPlane().start()
    yield cp
    cp.close()
