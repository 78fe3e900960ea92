"""Commands from the control plane; each runs in a worker thread and answers a result."""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
import zipfile
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional

from . import __version__, sshkeys
from .clock import ClockError
from .dockerapi import DockerError
from .peers import PeerArgsError
from .peers import parse as parse_peers
from .peers import probe as probe_peers
from .upgrade import UpgradeRefused, check_upgrade

if TYPE_CHECKING:  # pragma: no cover
    from .agent import Agent

log = logging.getLogger("dockercloud.commands")
# When this agent image started: a re-exec after upgrade_agent starts a new one, which is how
# the control plane tells the upgraded agent from the one it replaced (same pid).
STARTED = time.time()

MAX_OUTPUT = 64 * 1024
MAX_PYZ = 64 * 1024 * 1024
UPGRADE_TIMEOUT = 1800


class CommandError(Exception):
    def __init__(self, message: str, output: str = "", data: Optional[Dict[str, Any]] = None):
        super().__init__(message)
        self.output = output
        self.data = data or {}


class Outcome:
    def __init__(
        self,
        output: str = "",
        data: Optional[Dict[str, Any]] = None,
        after: Optional[Callable[[], None]] = None,
    ) -> None:
        self.output = output
        self.data = data or {}
        self.after = after  # runs once the result has been sent (re-exec, exit)


def _clip(text: str) -> str:
    return text if len(text) <= MAX_OUTPUT else "...\n" + text[-MAX_OUTPUT:]


class CommandRunner:
    # Commands that change the node must not overlap.
    EXCLUSIVE = {"upgrade_docker", "upgrade_agent", "deregister"}

    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self._exclusive = threading.Lock()
        self.handlers: Dict[str, Callable[[Dict[str, Any]], Outcome]] = {
            "ping": self.ping,
            "upgrade_docker": self.upgrade_docker,
            "upgrade_agent": self.upgrade_agent,
            "deregister": self.deregister,
            "set_authorized_keys": self.set_authorized_keys,
            "sync_clock": self.sync_clock,
            "rotate_logs": self.rotate_logs,
            "cleanup_images": self.cleanup_images,
            "probe_peers": self.probe_peers,
        }

    # --- dispatch ------------------------------------------------------------------------
    def handle(self, message: Dict[str, Any]) -> None:
        cid = message.get("id")
        if not isinstance(cid, str) or not cid:
            log.warning("command without an id ignored: name=%r", message.get("name"))
            return
        name = message.get("name")
        args = message.get("args")
        if args is None:
            args = {}
        if not isinstance(name, str) or not name:
            self.send_result(cid, False, error="malformed command: 'name' must be a string")
            return
        if not isinstance(args, dict):
            self.send_result(cid, False, error="malformed command: 'args' must be an object")
            return
        handler = self.handlers.get(name)
        if handler is None:
            self.send_result(cid, False, error="unknown command %r" % name)
            return
        thread = threading.Thread(
            target=self._run, args=(cid, name, handler, args), name="cmd-%s" % name, daemon=True
        )
        thread.start()

    def _run(self, cid: str, name: str, handler: Callable, args: Dict[str, Any]) -> None:
        exclusive = name in self.EXCLUSIVE
        if exclusive and not self._exclusive.acquire(blocking=False):
            self.send_result(cid, False, error="another upgrade or deregistration is running")
            return
        held = [exclusive]

        def release() -> None:
            if held[0]:
                held[0] = False
                self._exclusive.release()

        started = time.monotonic()
        log.info("command %s (%s) started", name, cid)
        try:
            try:
                outcome = handler(args)
            except CommandError as exc:
                log.warning("command %s (%s) failed: %s", name, cid, exc)
                release()  # over: the next command may come as soon as this result arrives
                self.send_result(cid, False, exc.output, str(exc), exc.data)
                return
            except Exception as exc:
                log.exception("command %s (%s) crashed", name, cid)
                release()
                self.send_result(cid, False, error="%s: %s" % (type(exc).__name__, exc))
                return
            log.info("command %s (%s) done in %.1fs", name, cid, time.monotonic() - started)
            if outcome.after is None:
                release()
            self.send_result(cid, True, outcome.output, "", outcome.data)
            if outcome.after is not None:
                outcome.after()  # re-exec or exit: nothing may start meanwhile
        finally:
            release()

    def send_result(
        self,
        cid: str,
        ok: bool,
        output: str = "",
        error: str = "",
        data: Optional[Dict[str, Any]] = None,
        wait: float = 60.0,
    ) -> bool:
        message = {
            "type": "result",
            "id": cid,
            "ok": ok,
            "output": _clip(output),
            "error": error,
            "data": data or {},
        }
        deadline = time.monotonic() + wait
        while True:
            if self.agent.channel.send(message):
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.agent.channel.stopped.is_set():
                log.warning("result of %s lost: no control channel", cid)
                return False
            # the channel is down: wait for a reconnection, then try again
            self.agent.channel.connected.wait(min(remaining, 5))
            if not self.agent.channel.connected.is_set():
                time.sleep(min(0.2, max(remaining, 0)))

    # --- commands ------------------------------------------------------------------------
    def ping(self, args: Dict[str, Any]) -> Outcome:
        return Outcome(
            "pong",
            {"time": self.agent.clock.now(), "agent_version": __version__, "started": STARTED},
        )

    # --- maintenance ----------------------------------------------------------------------
    def set_authorized_keys(self, args: Dict[str, Any]) -> Outcome:
        template = str(self.agent.config.data.get("authorized_keys_file") or "")
        try:
            data = sshkeys.set_authorized_keys(args, template)
        except (sshkeys.KeysError, OSError) as exc:
            raise CommandError(str(exc)) from None
        return Outcome("%(keys)d managed keys in %(path)s" % data, data)

    def sync_clock(self, args: Dict[str, Any]) -> Outcome:
        try:
            data = self.agent.clock.sync(args)
        except (ClockError, OSError) as exc:
            raise CommandError(str(exc)) from None
        data["time"] = self.agent.clock.now()
        return Outcome(data.pop("output", ""), data)

    def rotate_logs(self, args: Dict[str, Any]) -> Outcome:
        try:
            data = self.agent.logcap.configure(args)
        except (ValueError, OSError, DockerError) as exc:
            raise CommandError(str(exc)) from None
        return Outcome("%d container logs rotated" % len(data["rotated"]), data)

    def cleanup_images(self, args: Dict[str, Any]) -> Outcome:
        try:
            data = self.agent.images.cleanup(args)
        except (ValueError, OSError, DockerError) as exc:
            raise CommandError(str(exc)) from None
        return Outcome("%d images removed" % len(data["removed"]), data)

    def probe_peers(self, args: Dict[str, Any]) -> Outcome:
        try:
            peers, timeout = parse_peers(args)
        except PeerArgsError as exc:
            raise CommandError(str(exc)) from None
        unreachable = probe_peers(peers, timeout)
        return Outcome(
            "%d of %d reached" % (len(peers) - len(unreachable), len(peers)),
            {"unreachable": unreachable},
        )

    def upgrade_docker(self, args: Dict[str, Any]) -> Outcome:
        agent = self.agent
        command = agent.config.upgrade_docker_command
        if not command:
            raise CommandError("no upgrade_docker_command in the agent configuration")
        docker = agent.docker
        before: List[str] = []
        if docker.ping():
            try:
                before = docker.running_container_ids()
            except DockerError as exc:
                log.warning("could not list running containers before the upgrade: %s", exc)
        log.info("upgrade_docker: running %r", command)
        try:
            proc = subprocess.run(
                ["sh", "-c", command],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                timeout=UPGRADE_TIMEOUT,
            )
        except subprocess.TimeoutExpired as exc:
            out = (exc.output or b"").decode("utf-8", "replace")
            raise CommandError(
                "upgrade command timed out after %ds" % UPGRADE_TIMEOUT, out
            ) from None
        output = proc.stdout.decode("utf-8", "replace")
        if proc.returncode != 0:
            raise CommandError("upgrade command exited with status %d" % proc.returncode, output)
        if not agent.dockerd.restart(ping_timeout=90):
            raise CommandError("dockerd did not answer after the restart (see dockerd.log)", output)
        try:
            version = str(docker.version().get("Version") or "")
        except DockerError as exc:
            raise CommandError("reading the daemon version failed: %s" % exc, output) from None
        agent.docker_version = version or agent.docker_version
        restarted, failed = self._start_again(before)
        data = {"docker_version": version, "restarted_containers": restarted}
        if failed:
            raise CommandError("containers not running again: %s" % "; ".join(failed), output, data)
        return Outcome(output, data)

    def _start_again(self, ids: List[str]):
        docker = self.agent.docker
        restarted: List[str] = []
        failed: List[str] = []
        for cid in ids:
            try:
                if docker.inspect_container(cid).get("State", {}).get("Running"):
                    continue
                docker.start_container(cid)
                restarted.append(cid)
            except DockerError as exc:
                try:  # a restart policy may have started it meanwhile
                    if docker.inspect_container(cid).get("State", {}).get("Running"):
                        continue
                except DockerError:
                    pass
                failed.append("%s: %s" % (cid[:12], exc))
        return restarted, failed

    def upgrade_agent(self, args: Dict[str, Any]) -> Outcome:
        url = args.get("url")
        if not isinstance(url, str) or not url:
            raise CommandError("upgrade_agent needs args.url")
        agent = self.agent
        config = agent.config
        try:
            digest, version = check_upgrade(args, config.node_uuid, config.signing_key, __version__)
        except UpgradeRefused as exc:
            raise CommandError(str(exc)) from None
        url = urllib.parse.urljoin(agent.config.server + "/", url)
        target = agent.pyz_path()
        os.makedirs(os.path.dirname(target), exist_ok=True)
        tmp = "%s.download.%d" % (target, os.getpid())
        try:
            got = self._download(url, tmp)
            if got != digest:
                raise CommandError("sha256 mismatch: expected %s, got %s" % (digest, got))
            if not zipfile.is_zipfile(tmp):
                raise CommandError("the download is not a zipapp")
            try:
                check = subprocess.run(
                    [sys.executable, tmp, "version"],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    timeout=60,
                )
            except (OSError, subprocess.SubprocessError) as exc:
                raise CommandError("the new agent does not run: %s" % exc) from None
            new_version = check.stdout.decode("utf-8", "replace").strip()
            if check.returncode != 0:
                raise CommandError("the new agent does not run", new_version)
            if new_version != version:
                raise CommandError(
                    "the new agent says it is version %r, the signed upgrade says %r"
                    % (new_version[:64], version)
                )
            os.chmod(tmp, 0o755)
            os.replace(tmp, target)  # atomic: the path always holds a complete agent
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        log.info("agent replaced by %s (%s); re-executing", new_version, digest[:12])
        return Outcome(
            "agent %s installed at %s; restarting" % (new_version, target),
            {"agent_version": new_version, "previous_version": __version__},
            after=lambda: agent.reexec(target),
        )

    @staticmethod
    def _download(url: str, dest: str) -> str:
        if not url.startswith(("http://", "https://")):
            raise CommandError("refusing to download from %r" % url)
        sha = hashlib.sha256()
        total = 0
        req = urllib.request.Request(url, headers={"User-Agent": "dockercloud-agent"})
        try:
            with urllib.request.urlopen(req, timeout=60) as resp, open(dest, "wb") as out:
                while True:
                    block = resp.read(65536)
                    if not block:
                        break
                    total += len(block)
                    if total > MAX_PYZ:
                        raise CommandError("download larger than %d bytes" % MAX_PYZ)
                    sha.update(block)
                    out.write(block)
                out.flush()
                os.fsync(out.fileno())
        except OSError as exc:  # URLError and HTTPError are OSErrors
            raise CommandError("download of %s failed: %s" % (url, exc)) from None
        return sha.hexdigest()

    def deregister(self, args: Dict[str, Any]) -> Outcome:
        return Outcome(
            "deregistering: stopping dockerd and removing credentials", after=self.agent.deregister
        )
