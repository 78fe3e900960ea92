"""The agent process: dockerd supervision + control channel + commands + tunnel."""

from __future__ import annotations

import fcntl
import logging
import os
import sys
import threading
import time
from typing import Any, Dict, List, Optional

from . import EXIT_FINAL, __version__
from .channel import Channel
from .clock import Clock
from .commands import CommandRunner
from .config import Config, Paths
from .dockerapi import DockerAPI, DockerError
from .dockerd import DockerdError, DockerdSupervisor, read_pidfile
from .events import EventStream
from .facts import dockerd_version, host_facts, metrics
from .images import ImageTracker, image_age_offset, images_file
from .logcap import LogCap
from .register import forget_registration
from .tunnel import TunnelManager

log = logging.getLogger("dockercloud.agent")


class AgentError(Exception):
    pass


def package_zip() -> Optional[str]:
    """Path of the zipapp this code runs from, if any."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return root if os.path.isfile(root) else None


class Agent:
    def __init__(self, paths: Paths, config: Config) -> None:
        self.paths = paths
        self.config = config
        self.docker = DockerAPI(paths.docker_sock, timeout=30)
        self.dockerd = DockerdSupervisor(paths, config, self.docker)
        self.docker_version: Optional[str] = None
        self.exit_code = 0
        self.channel = Channel(
            url=lambda: self.config.ws_url,
            headers=self._auth_headers,
            on_open=self._on_open,
            on_message=self.on_message,
            on_close=self._on_close,
            read_timeout=lambda: max(3 * self.config.heartbeat_interval + 10, 30.0),
        )
        self.commands = CommandRunner(self)
        self.tunnels = TunnelManager(self.docker.sock_path, self.channel.send)
        self.events = EventStream(paths, config, self.docker, self.channel.send)
        self.clock = Clock(config, lambda: config.save(paths))
        self.logcap = LogCap(self)
        self.images = ImageTracker(
            self.docker, images_file(paths), age_offset=image_age_offset(config)
        )
        self.events.listeners.append(self.images.on_event)
        self._hb_wake = threading.Event()
        self._hb_last = 0.0
        self._lock_fd: Optional[int] = None
        self._deregister_lock = threading.Lock()
        self._deregistered = False

    # --- lifecycle -----------------------------------------------------------------------
    def run(self) -> int:
        """Foreground main loop; returns the exit status."""
        self._acquire_lock()
        log.info(
            "dockercloud agent %s starting (node %s, server %s)",
            __version__,
            self.config.node_uuid,
            self.config.server,
        )
        starter = threading.Thread(target=self._start_dockerd, name="dockerd-start", daemon=True)
        starter.start()
        self.start_heartbeats()
        self.events.start()
        self.logcap.start()
        try:
            self.channel.run()
        finally:
            self._hb_wake.set()
            self.events.stop()
            self.logcap.stop()
            self.tunnels.cancel_all()
            self.dockerd.stop_monitor()
            if read_pidfile(self.paths.agent_pid) == os.getpid():
                try:
                    os.unlink(self.paths.agent_pid)
                except OSError:
                    pass
        log.info("agent stopped (exit status %d)", self.exit_code)
        return self.exit_code

    def _acquire_lock(self) -> None:
        self.paths.ensure_dirs()
        fd = os.open(self.paths.agent_lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            other = ""
            try:
                with open(self.paths.agent_pid, encoding="ascii") as f:
                    other = " (pid %s)" % f.read().strip()
            except OSError:
                pass
            raise AgentError("another agent is already running%s" % other) from None
        self._lock_fd = fd
        with open(self.paths.agent_pid, "w", encoding="ascii") as f:
            f.write("%d\n" % os.getpid())

    def _start_dockerd(self) -> None:
        try:
            if self.dockerd.ensure_started(ping_timeout=60):
                self.refresh_docker_version()
                self.wake_heartbeat()
        except DockerdError as exc:
            log.error("%s", exc)
        except Exception:
            log.exception("starting dockerd failed")
        if not self.channel.stopped.is_set():
            self.dockerd.start_monitor(interval=2.0)

    def stop(self, code: int = 0) -> None:
        self.exit_code = code
        self.channel.stop()
        self._hb_wake.set()

    def deregister(self) -> None:
        """Stop dockerd, delete the registration and stop for good. The `deregister` command and
        the control plane's "deregistered" close both come here, often at once: one runs it."""
        with self._deregister_lock:
            if self._deregistered:
                return
            log.warning("deregistering: stopping dockerd, deleting the configuration and TLS files")
            self.dockerd.disable()
            self.dockerd.stop_monitor()
            self.dockerd.stop()
            forget_registration(self.paths)
            self._deregistered = True
            self.stop(EXIT_FINAL)

    def pyz_path(self) -> str:
        return package_zip() or self.paths.pyz_file

    def reexec(self, target: str) -> None:
        argv = [sys.executable, target] + sys.argv[1:]
        log.info("re-executing: %s", " ".join(argv))
        self.channel.stop()
        for handler in logging.getLogger().handlers + logging.getLogger("dockercloud").handlers:
            try:
                handler.flush()
            except Exception:
                pass
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # the new image takes the lock again
            self._lock_fd = None
        try:
            os.execv(sys.executable, argv)
        except OSError as exc:
            log.error("re-exec failed (%s): exiting so that the supervisor restarts us", exc)
            self.stop(1)

    # --- channel callbacks ----------------------------------------------------------------
    def _auth_headers(self) -> List[str]:
        return ["Authorization: Agent %s:%s" % (self.config.node_uuid, self.config.secret)]

    def _on_open(self) -> None:
        facts = host_facts(self.paths.docker_data)
        version = self.refresh_docker_version() or facts.get("docker_version")
        self.channel.send(
            {
                "type": "hello",
                "node_uuid": self.config.node_uuid,
                "agent_version": __version__,
                "docker_version": version,
                "facts": facts,
                "features": ["clock_probe"],
            }
        )
        self._hb_last = 0.0  # a heartbeat right away
        self._hb_wake.set()
        self.events.on_connect()  # events resume after the server's first ack

    def _on_close(self) -> None:
        self.tunnels.cancel_all()  # their answers could not reach anyone
        self.events.on_disconnect()

    def on_message(self, message: Dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "command":
            self.commands.handle(message)
        elif kind in ("tunnel_open", "tunnel_data", "tunnel_close"):
            self.tunnels.handle(message)
        elif kind == "ack":
            self.events.on_ack(message.get("seq"))
        elif kind == "clock":
            self.clock.on_probe(message)
        elif kind == "config":
            self._apply_config(message)
        elif kind == "close":
            reason = str(message.get("reason") or "")
            log.warning("the control plane refused this agent: %s", reason or "no reason given")
            if reason == "deregistered":
                # The node was terminated: its credentials are revoked, so forget them here too
                # (the close may arrive while the `deregister` command is still at work).
                self.deregister()
        else:
            log.warning("unknown message type %r ignored", kind)
            if isinstance(message.get("id"), str) and message["id"]:
                self.channel.send(
                    {
                        "type": "result",
                        "id": message["id"],
                        "ok": False,
                        "output": "",
                        "error": "unknown message type %r" % (kind,),
                        "data": {},
                    }
                )

    def _apply_config(self, message: Dict[str, Any]) -> None:
        value = message.get("heartbeat_interval")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            log.warning("config message without a valid heartbeat_interval: %r", value)
            return
        self.config.data["heartbeat_interval"] = value
        log.info("heartbeat interval set to %ss", self.config.heartbeat_interval)
        try:
            self.config.save(self.paths)
        except OSError as exc:
            log.warning("could not save the configuration: %s", exc)
        self.wake_heartbeat()

    # --- heartbeats -------------------------------------------------------------------------
    def wake_heartbeat(self) -> None:
        self._hb_wake.set()

    def start_heartbeats(self) -> None:
        threading.Thread(target=self._heartbeat_loop, name="heartbeat", daemon=True).start()

    def _heartbeat_loop(self) -> None:
        while not self.channel.stopped.is_set():
            if not self.channel.connected.is_set():
                self._hb_wake.wait(1.0)
                self._hb_wake.clear()
                continue
            due = self._hb_last + self.config.heartbeat_interval
            now = time.monotonic()
            if now < due:
                self._hb_wake.wait(due - now)
                self._hb_wake.clear()
                continue
            self._hb_last = now
            try:
                message = self.heartbeat()
            except Exception:
                log.exception("building a heartbeat failed")
                continue
            if self.channel.send(message):
                self.channel.ping()  # its pong proves the connection is alive

    def refresh_docker_version(self) -> Optional[str]:
        try:
            version = self.docker.version(timeout=5).get("Version")
        except DockerError:
            version = None
        if version:
            self.docker_version = str(version)
        elif self.docker_version is None:
            self.docker_version = dockerd_version()
        return self.docker_version

    def heartbeat(self) -> Dict[str, Any]:
        message: Dict[str, Any] = {"type": "heartbeat"}
        message.update(self.clock.heartbeat_fields())
        message.update(metrics(self.paths.docker_data))
        running = self.docker.ping(timeout=3)
        containers = {"running": 0, "total": 0}
        if running:
            try:
                listed = self.docker.containers(all=True, timeout=10)
                containers = {
                    "running": sum(1 for c in listed if c.get("State") == "running"),
                    "total": len(listed),
                }
            except DockerError as exc:
                log.warning("listing containers failed: %s", exc)
            self.refresh_docker_version()
        message["containers"] = containers
        message["docker_version"] = self.docker_version
        message["dockerd_running"] = running
        return message
