"""Paths on the host and the agent's configuration file.

Real paths are used on every host. The ``--root`` CLI option prefixes all of them; it exists
only for the agent's own unit tests.
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any, Dict, List, Optional

DEFAULT_HEARTBEAT = 15
DEFAULT_DAEMON = {
    "tcp": "tcp://0.0.0.0:2375",
    "log_opts": {"max-size": "10m", "max-file": "2"},
    "extra_args": [],
}


class Paths:
    """Every file the agent reads or writes, under an optional root prefix."""

    def __init__(self, root: str = "/") -> None:
        self.root = os.path.abspath(root or "/")

        def p(path: str) -> str:
            return os.path.join(self.root, path.lstrip("/"))

        self.etc_dir = p("/etc/dockercloud")
        self.config_file = p("/etc/dockercloud/agent.json")
        self.tls_dir = p("/etc/dockercloud/tls")
        self.key_file = p("/etc/dockercloud/tls/key.pem")
        self.cert_file = p("/etc/dockercloud/tls/cert.pem")
        self.ca_file = p("/etc/dockercloud/tls/ca.pem")
        self.state_dir = p("/var/lib/dockercloud")
        self.pyz_file = p("/var/lib/dockercloud/dockercloud-agent.pyz")
        self.log_dir = p("/var/log/dockercloud")
        self.agent_log = p("/var/log/dockercloud/agent.log")
        self.dockerd_log = p("/var/log/dockercloud/dockerd.log")
        self.run_dir = p("/run/dockercloud")
        self.agent_pid = p("/run/dockercloud/agent.pid")
        self.agent_lock = p("/run/dockercloud/agent.lock")
        self.dockerd_pid = p("/run/dockercloud/dockerd.pid")
        self.supervise_pid = p("/run/dockercloud/supervise.pid")
        self.docker_sock = p("/run/docker.sock")
        self.docker_data = p("/var/lib/docker")
        self.docker_exec = p("/run/docker")

    @property
    def is_default_root(self) -> bool:
        return self.root == "/"

    def ensure_dirs(self) -> None:
        for d, mode in (
            (self.etc_dir, 0o700),
            (self.tls_dir, 0o700),
            (self.state_dir, 0o755),
            (self.log_dir, 0o755),
            (self.run_dir, 0o755),
        ):
            os.makedirs(d, mode=mode, exist_ok=True)


def write_file_atomic(path: str, data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` to a temporary file beside ``path``, fsync, then rename over it."""
    tmp = "%s.tmp.%d" % (path, os.getpid())
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


class Config:
    """Contents of ``/etc/dockercloud/agent.json`` (mode 600). Unknown keys are kept."""

    def __init__(self, data: Optional[Dict[str, Any]] = None) -> None:
        self.data: Dict[str, Any] = dict(data or {})

    # --- typed accessors -------------------------------------------------------------
    @property
    def server(self) -> str:
        return str(self.data.get("server") or "").rstrip("/")

    @property
    def node_uuid(self) -> str:
        return str(self.data.get("node_uuid") or "")

    @property
    def secret(self) -> str:
        return str(self.data.get("secret") or "")

    @property
    def ws_url(self) -> str:
        url = self.data.get("ws_url")
        if url:
            return str(url)
        server = self.server
        if server.startswith("https://"):
            return "wss://" + server[len("https://") :] + "/ws/agent/"
        if server.startswith("http://"):
            return "ws://" + server[len("http://") :] + "/ws/agent/"
        return server + "/ws/agent/"

    @property
    def heartbeat_interval(self) -> float:
        try:
            value = float(self.data.get("heartbeat_interval") or DEFAULT_HEARTBEAT)
        except (TypeError, ValueError):
            value = DEFAULT_HEARTBEAT
        return min(max(value, 1.0), 3600.0)

    @property
    def daemon(self) -> Dict[str, Any]:
        daemon = dict(DEFAULT_DAEMON)
        given = self.data.get("daemon")
        if isinstance(given, dict):
            daemon.update(given)
        return daemon

    @property
    def daemon_extra_args(self) -> List[str]:
        extra = self.daemon.get("extra_args") or []
        return [str(a) for a in extra] if isinstance(extra, list) else []

    @property
    def upgrade_docker_command(self) -> str:
        return str(self.data.get("upgrade_docker_command") or "")

    @property
    def signing_key(self) -> bytes:
        """The control plane's Ed25519 public key (32 bytes), b"" when unknown or malformed."""
        try:
            raw = base64.b64decode(str(self.data.get("signing_key") or ""), validate=True)
        except ValueError:
            return b""
        return raw if len(raw) == 32 else b""

    @property
    def tunnel(self) -> bool:
        return bool(self.data.get("tunnel", False))

    def is_registered(self) -> bool:
        return bool(self.node_uuid and self.secret)

    def __repr__(self) -> str:  # never show the secret
        return "Config(server=%r, node_uuid=%r)" % (self.server, self.node_uuid)

    # --- files -----------------------------------------------------------------------
    @classmethod
    def load(cls, paths: Paths) -> Config:
        """The config, or an empty one if the file does not exist. Bad JSON raises ValueError."""
        try:
            with open(paths.config_file, "rb") as f:
                raw = f.read()
        except FileNotFoundError:
            return cls()
        try:
            data = json.loads(raw.decode("utf-8"))
        except ValueError as exc:
            raise ValueError("%s is not valid JSON: %s" % (paths.config_file, exc)) from None
        if not isinstance(data, dict):
            raise ValueError("%s must hold a JSON object" % paths.config_file)
        return cls(data)

    def save(self, paths: Paths) -> None:
        os.makedirs(paths.etc_dir, mode=0o700, exist_ok=True)
        body = json.dumps(self.data, indent=2, sort_keys=True) + "\n"
        write_file_atomic(paths.config_file, body.encode("utf-8"), 0o600)


def registration_state(paths: Paths) -> Optional[Config]:
    """The config if this host is registered (uuid + secret + certificate), else None."""
    try:
        config = Config.load(paths)
    except ValueError:
        return None
    if config.is_registered() and os.path.exists(paths.cert_file):
        return config
    return None
