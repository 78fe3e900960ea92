"""Supervision of the node's dockerd: start (or adopt), watch, restart, stop."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import threading
import time
from typing import Iterator, List, Optional

from .config import Config, Paths
from .dockerapi import DockerAPI
from .facts import dockerd_binary

log = logging.getLogger("dockercloud.dockerd")

STD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def read_pidfile(path: str) -> Optional[int]:
    try:
        with open(path, encoding="ascii") as f:
            text = f.read().strip()
    except (OSError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() and int(text) > 1 else None


def pid_alive(pid: Optional[int]) -> bool:
    """True if ``pid`` runs (reaps it first if it is a dead child of ours; zombies are dead)."""
    if not pid:
        return False
    try:
        wpid, _status = os.waitpid(pid, os.WNOHANG)
        if wpid == pid:
            return False
    except ChildProcessError:
        pass
    except OSError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open("/proc/%d/stat" % pid, encoding="ascii", errors="replace") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except (OSError, IndexError):
        return True


def process_cmdline(pid: int) -> List[str]:
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return [a.decode("utf-8", "replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


def tail(path: str, lines: int = 15) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 8192))
            data = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(data.splitlines()[-lines:])


class DockerdError(Exception):
    pass


class DockerdSupervisor:
    """Keeps one dockerd running with the node's TLS settings."""

    def __init__(self, paths: Paths, config: Config, docker: DockerAPI) -> None:
        self.paths = paths
        self.config = config
        self.docker = docker
        self.pid: Optional[int] = None
        self._proc: Optional[subprocess.Popen] = None
        self._lock = threading.RLock()
        self._paused = 0
        self._enabled = True
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._failures = 0
        self._started_at = 0.0
        self.restarts = 0

    # --- command line ------------------------------------------------------------------
    def command(self) -> List[str]:
        binary = dockerd_binary()
        if not binary:
            raise DockerdError(
                "dockerd not found: install Docker Engine (apt-get install docker.io)"
            )
        p = self.paths
        daemon = self.config.daemon
        cmd = [
            binary,
            "--tlsverify",
            "--tlscacert",
            p.ca_file,
            "--tlscert",
            p.cert_file,
            "--tlskey",
            p.key_file,
            "-H",
            "unix://" + p.docker_sock,
        ]
        if daemon.get("tcp"):
            cmd += ["-H", str(daemon["tcp"])]
        log_opts = daemon.get("log_opts") or {}
        if isinstance(log_opts, dict):
            for key in sorted(log_opts):
                cmd += ["--log-opt", "%s=%s" % (key, log_opts[key])]
        cmd += ["--pidfile", p.dockerd_pid]
        if not p.is_default_root:  # the agent's own tests: keep the daemon inside the root
            cmd += ["--data-root", p.docker_data, "--exec-root", p.docker_exec]
        return cmd + self.config.daemon_extra_args

    # --- state -------------------------------------------------------------------------
    def is_running(self) -> bool:
        with self._lock:
            return pid_alive(self.pid)

    def _adoptable(self, pid: Optional[int]) -> bool:
        if not pid_alive(pid):
            return False
        cmdline = process_cmdline(pid or 0)
        return not cmdline or any(os.path.basename(a) == "dockerd" for a in cmdline[:2])

    def wait_ping(self, timeout: float, pid: Optional[int] = None) -> bool:
        """Wait until the socket answers /_ping; False at the deadline or if ``pid`` dies."""
        deadline = time.monotonic() + timeout
        while True:
            if self.docker.ping(timeout=2):
                return True
            if pid is not None and not pid_alive(pid):
                return False
            if time.monotonic() >= deadline or self._stop.is_set():
                return False
            time.sleep(0.1)

    # --- actions -----------------------------------------------------------------------
    def ensure_started(self, ping_timeout: float = 60) -> bool:
        """Adopt a dockerd left by a previous agent (pidfile alive and socket answers), else
        start one. Returns True when the socket answers."""
        with self._lock:
            if not self._enabled:  # deregistered meanwhile
                return False
            pid = read_pidfile(self.paths.dockerd_pid)
            if self._adoptable(pid):
                if self.wait_ping(min(ping_timeout, 20), pid):
                    self.pid = pid
                    self._started_at = time.monotonic()
                    log.info("adopted the running dockerd (pid %d)", pid)
                    return True
                log.warning("dockerd pid %s does not answer on its socket: restarting it", pid)
                self._terminate(pid, 30)
            pid = self._spawn()
        ok = self.wait_ping(ping_timeout, pid)
        if not ok:
            log.error(
                "dockerd did not answer within %ds; dockerd.log:\n%s",
                ping_timeout,
                tail(self.paths.dockerd_log),
            )
        return ok

    def _spawn(self) -> int:
        cmd = self.command()
        if self.docker.ping(timeout=2):  # never two daemons on one data root
            raise DockerdError(
                "a Docker daemon not started by dockercloud answers on %s: stop and disable it "
                "(for example: systemctl disable --now docker.service docker.socket); the agent "
                "runs its own" % self.paths.docker_sock
            )
        os.makedirs(self.paths.log_dir, exist_ok=True)
        os.makedirs(self.paths.run_dir, exist_ok=True)
        env = dict(os.environ)
        path = env.get("PATH", "")
        env["PATH"] = ":".join([path] + [d for d in STD_PATH.split(":") if d not in path])
        with open(self.paths.dockerd_log, "ab") as out:
            out.write(
                (
                    "--- %s starting: %s\n" % (time.strftime("%Y-%m-%dT%H:%M:%S"), " ".join(cmd))
                ).encode()
            )
            out.flush()
            self._proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # survives the agent: a new agent adopts it
                close_fds=True,
                env=env,
            )
        self.pid = self._proc.pid
        self._started_at = time.monotonic()
        log.info("started dockerd (pid %d)", self.pid)
        return self.pid

    def _terminate(self, pid: Optional[int], timeout: float) -> None:
        if not pid_alive(pid):
            return
        assert pid is not None
        log.info("stopping dockerd (pid %d)", pid)
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while pid_alive(pid):
            if time.monotonic() >= deadline:
                log.warning("dockerd (pid %d) still running after %ds: killing it", pid, timeout)
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                deadline = time.monotonic() + 10
                while pid_alive(pid) and time.monotonic() < deadline:
                    time.sleep(0.05)
                break
            time.sleep(0.05)

    def stop(self, timeout: float = 45) -> None:
        with self._lock:
            pid = self.pid or read_pidfile(self.paths.dockerd_pid)
            if pid is not None and self._adoptable(pid):
                self._terminate(pid, timeout)
            self.pid = None

    def restart(self, ping_timeout: float = 60) -> bool:
        """Stop dockerd by pid and start it again (monitor paused meanwhile)."""
        with self.paused():
            self.stop()
            with self._lock:
                pid = self._spawn()
            ok = self.wait_ping(ping_timeout, pid)
        self.restarts += 1
        return ok

    def disable(self) -> None:
        """Stop watching for good (deregistration)."""
        self._enabled = False

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        with self._lock:
            self._paused += 1
        try:
            yield
        finally:
            with self._lock:
                self._paused -= 1

    # --- monitor -----------------------------------------------------------------------
    def start_monitor(self, interval: float = 2.0) -> None:
        self._thread = threading.Thread(
            target=self._monitor, args=(interval,), name="dockerd-monitor", daemon=True
        )
        self._thread.start()

    def stop_monitor(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _monitor(self, interval: float) -> None:
        next_try = 0.0
        while not self._stop.wait(interval):
            try:
                with self._lock:
                    if self._paused or not self._enabled or pid_alive(self.pid):
                        if pid_alive(self.pid) and time.monotonic() - self._started_at > 60:
                            self._failures = 0
                        continue
                    now = time.monotonic()
                    if now < next_try:
                        continue
                    log.warning(
                        "dockerd (pid %s) is not running; restarting it. dockerd.log:\n%s",
                        self.pid,
                        tail(self.paths.dockerd_log, 8),
                    )
                    self._failures += 1
                    next_try = now + min(2**self._failures, 60)
                    self._spawn()
                    self.restarts += 1
            except DockerdError as exc:
                log.error("%s", exc)
            except Exception:
                log.exception("dockerd supervision failed; retrying")
