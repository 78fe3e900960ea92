"""Registration: key + CSR with the host's openssl, POST to the control plane, write files."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import urllib.error
import urllib.request
from typing import Any, Dict, Optional, Tuple

from . import __version__
from .config import Config, Paths, registration_state, write_file_atomic
from .facts import host_facts

REGISTER_PATH = "/api/agent/v1/register/"


class RegistrationError(Exception):
    pass


def _openssl() -> str:
    found = shutil.which("openssl")
    if not found:
        for candidate in ("/usr/bin/openssl", "/bin/openssl", "/usr/local/bin/openssl"):
            if os.access(candidate, os.X_OK):
                return candidate
        raise RegistrationError(
            "openssl not found: install it (apt-get install openssl / dnf install openssl)"
        )
    return found


def common_name(hostname: Optional[str] = None) -> str:
    name = hostname or socket.gethostname() or "node"
    cleaned = "".join(c for c in name if c.isalnum() or c in "-._")
    return (cleaned or "node")[:64]


def make_key_and_csr(key_path: str, hostname: Optional[str] = None) -> str:
    """Generate an RSA 2048 key at ``key_path`` (mode 600) and return a CSR PEM for it."""
    os.makedirs(os.path.dirname(key_path), mode=0o700, exist_ok=True)
    # Create the key file first so openssl writes into a file that is already private.
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.close(fd)
    os.chmod(key_path, 0o600)
    cmd = [
        _openssl(),
        "req",
        "-new",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        key_path,
        "-subj",
        "/CN=%s" % common_name(hostname),
        "-out",
        "-",
    ]
    try:
        proc = subprocess.run(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            timeout=120,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise RegistrationError("openssl failed to run: %s" % exc) from None
    csr = proc.stdout.decode("ascii", "replace")
    if proc.returncode != 0 or "BEGIN CERTIFICATE REQUEST" not in csr:
        err = proc.stderr.decode("utf-8", "replace").strip()
        raise RegistrationError("openssl could not make a key and CSR: %s" % (err or csr))
    os.chmod(key_path, 0o600)
    return csr


def post_json(url: str, payload: Dict[str, Any], timeout: float = 60) -> Tuple[int, Any]:
    """POST JSON; returns (status, decoded body or None). Raises RegistrationError when the
    server cannot be reached."""
    data = json.dumps(payload).encode("utf-8")
    req = urllib.request.Request(
        url,
        data=data,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": "dockercloud-agent/%s" % __version__,
        },
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise RegistrationError("cannot reach %s: %s" % (url, reason)) from None
    try:
        body = json.loads(raw.decode("utf-8")) if raw else None
    except ValueError:
        body = None
    return status, body


def register(paths: Paths, server: str, token: str) -> Tuple[Config, bool]:
    """Register this host. Returns (config, newly_registered). Already registered -> no-op."""
    existing = registration_state(paths)
    if existing is not None:
        return existing, False
    server = server.strip().rstrip("/")
    if not server.startswith(("http://", "https://")):
        raise RegistrationError("--server must be an http:// or https:// URL, got %r" % server)
    if not token.strip():
        raise RegistrationError("--token is empty")
    paths.ensure_dirs()
    facts = host_facts(paths.docker_data)
    key_tmp = paths.key_file + ".new"
    try:
        csr = make_key_and_csr(key_tmp, facts.get("hostname"))
        status, body = post_json(
            server + REGISTER_PATH, {"token": token.strip(), "csr": csr, "facts": facts}
        )
        if status not in (200, 201) or not isinstance(body, dict):
            message = body.get("error") if isinstance(body, dict) else None
            raise RegistrationError(
                "registration refused by %s (HTTP %d): %s"
                % (server, status, message or "no error message")
            )
        required = ("node_uuid", "secret", "cert", "ca_cert", "signing_key")
        missing = [k for k in required if not body.get(k)]
        if missing:
            raise RegistrationError("bad registration answer: missing %s" % ", ".join(missing))
        if not Config({"signing_key": body["signing_key"]}).signing_key:
            raise RegistrationError("bad registration answer: signing_key is not an Ed25519 key")
        write_file_atomic(paths.cert_file, str(body["cert"]).encode("ascii"), 0o644)
        write_file_atomic(paths.ca_file, str(body["ca_cert"]).encode("ascii"), 0o644)
        os.replace(key_tmp, paths.key_file)
    finally:
        if os.path.exists(key_tmp):
            os.unlink(key_tmp)
    config = Config(
        {
            "server": server,
            "node_uuid": str(body["node_uuid"]),
            "secret": str(body["secret"]),
            "ws_url": body.get("ws_url") or "",
            "heartbeat_interval": body.get("heartbeat_interval") or 15,
            "daemon": body.get("daemon") if isinstance(body.get("daemon"), dict) else {},
            "upgrade_docker_command": body.get("upgrade_docker_command") or "",
            "tunnel": bool(body.get("tunnel", False)),
            # Upgrades must carry this key's signature: learnt once, here, never changed.
            "signing_key": str(body["signing_key"]),
        }
    )
    if not config.data["ws_url"]:
        config.data["ws_url"] = config.ws_url
    config.save(paths)  # written last: config + cert present == registered
    return config, True


def forget_registration(paths: Paths) -> None:
    """Delete the config and TLS files (deregistration)."""
    for path in (paths.config_file, paths.key_file, paths.cert_file, paths.ca_file):
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
