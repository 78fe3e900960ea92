"""An OpenSSH server inside a lab host, for the bring-your-own-host-over-SSH path.

The host shares ``/etc`` with the machine, so root's password cannot be set the usual way
(``chpasswd`` would change the machine's own). Instead every host has a private copy of
``/etc/shadow`` bind-mounted over the real one inside its mount namespace only; root's hash is
set in that copy, and sshd runs with its own config, host key and authorized_keys from the
host's state dir.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from .net import LabError

if TYPE_CHECKING:
    from collections.abc import Iterable

    from .hosts import Host

SSHD = "/usr/sbin/sshd"

CONFIG = """\
Port {port}
ListenAddress 0.0.0.0
HostKey {dir}/ssh_host_ed25519_key
PidFile /run/sshd-lab.pid
PermitRootLogin yes
PasswordAuthentication {password}
KbdInteractiveAuthentication no
PubkeyAuthentication yes
AuthorizedKeysFile {dir}/authorized_keys
# Without PAM, sshd reads the (private) /etc/shadow itself and starts no session modules.
UsePAM no
PrintMotd no
Subsystem sftp /usr/lib/openssh/sftp-server
"""


def hash_password(password: str) -> str:
    """SHA-512 crypt hash (``$6$…``), the format /etc/shadow uses."""
    out = subprocess.run(
        ["openssl", "passwd", "-6", "-stdin"], input=password, capture_output=True, text=True
    )
    if out.returncode != 0:
        raise LabError(f"openssl passwd failed: {out.stderr.strip()}")
    return out.stdout.strip()


def write_shadow(path: Path, root_hash: str | None = None) -> None:
    """Write the machine's /etc/shadow to ``path``, with root's hash set to ``root_hash``.

    The file is rewritten in place (same inode), so a host that has it bind-mounted over
    /etc/shadow sees the change at once.
    """
    out = []
    for line in Path("/etc/shadow").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == "root" and root_hash is not None:
            fields[1] = root_hash
        out.append(":".join(fields))
    with open(path, "w") as fh:  # "w" truncates: keeps the inode the bind mount refers to
        os.fchmod(fh.fileno(), 0o640)
        fh.write("\n".join(out) + "\n")


def _write_host_key(path: Path) -> None:
    if path.exists():
        return
    key = ed25519.Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    path.write_bytes(pem)
    os.chmod(path, 0o600)


def _authorized_lines(keys: str | Iterable[str] | None) -> str:
    if keys is None:
        return ""
    if isinstance(keys, str):
        keys = [keys]
    return "".join(k.strip() + "\n" for k in keys)


def wait_banner(address: str, port: int, timeout: float, proc=None) -> bool:
    """Wait until an SSH server greets on ``address:port`` (False: deadline, or ``proc``
    exited)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and (proc is None or proc.poll() is None):
        try:
            with socket.create_connection((address, port), timeout=1) as sock:
                if sock.recv(4).startswith(b"SSH-"):
                    return True
        except OSError:
            pass
        time.sleep(0.05)
    return False


def start_sshd(
    host: Host,
    *,
    password: str | None = None,
    authorized_keys: str | Iterable[str] | None = None,
    port: int = 22,
    timeout: float = 15,
) -> subprocess.Popen:
    """Start sshd in ``host`` on ``port``: root login by ``password`` (if given) and/or by
    the public key lines in ``authorized_keys``. Returns once the SSH banner is served."""
    ssh_dir = host.state_path("lab") / "ssh"
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    _write_host_key(ssh_dir / "ssh_host_ed25519_key")
    keys_file = ssh_dir / "authorized_keys"
    keys_file.write_text(_authorized_lines(authorized_keys))
    os.chmod(keys_file, 0o600)
    config = ssh_dir / "sshd_config"
    config.write_text(CONFIG.format(port=port, dir=ssh_dir, password="yes" if password else "no"))
    # The host's /etc/shadow is already its private copy (see holder.FILE_MOUNTS). "*" (no
    # password) rather than the machine's entry: a locked "!" would block key logins.
    write_shadow(host.state_path("lab") / "shadow", hash_password(password) if password else "*")
    host.run(["mkdir", "-p", "-m", "0755", "/run/sshd"])  # privilege separation dir
    with open(host.state_path("var-log") / "sshd.log", "ab") as log:
        proc = host.popen([SSHD, "-D", "-e", "-f", str(config)], stdout=log, stderr=log)
    if not wait_banner(host.address, port, timeout, proc):
        proc.kill()
        tail = (host.state_path("var-log") / "sshd.log").read_text(errors="replace")[-2000:]
        raise LabError(f"sshd in {host.name} did not come up:\n{tail}")
    return proc
