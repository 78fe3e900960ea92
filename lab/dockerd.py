"""A plain dockerd inside a lab host, for the lab's own tests.

The product's agent starts dockerd itself; this helper only exists so tests can get a daemon
with the host's default paths (``/var/lib/docker``, ``/run/docker.sock``: both private to the
host) without going through the install script.
"""

from __future__ import annotations

import socket
import subprocess
import time
from typing import TYPE_CHECKING

from .net import LabError

if TYPE_CHECKING:
    from .hosts import Host

SOCKET = "/run/docker.sock"


def _with_default_socket(args: list[str]) -> list[str]:
    """With any ``-H``, dockerd drops its default socket; keep it so we can wait on it."""
    hosts = [a for a in args if a in ("-H", "--host") or a.startswith(("-H=", "--host="))]
    unix = any(f"unix://{p}" in " ".join(args) for p in (SOCKET, "/var/run/docker.sock"))
    return args + ["-H", f"unix://{SOCKET}"] if hosts and not unix else args


def ping_socket(path: str, timeout: float = 1.0) -> bool:
    """True when a Docker API answers ``GET /_ping`` on the unix socket ``path``."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(path)
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            status_line = sock.recv(64).split(b"\r\n", 1)[0]
            return status_line.split()[1:2] == [b"200"]
    except OSError:
        return False


def start_dockerd(host: Host, extra_args=(), *, timeout: float = 30) -> subprocess.Popen:
    """Start dockerd in ``host`` (pidfile under /run, log in the host's /var/log/dockerd.log)
    and wait until its API answers on ``/run/docker.sock``."""
    args = _with_default_socket(["dockerd", "--pidfile", "/run/docker.pid", *extra_args])
    log_path = host.state_path("var-log") / "dockerd.log"
    with open(log_path, "ab") as log:
        proc = host.popen(args, stdout=log, stderr=subprocess.STDOUT)
    sock = str(host.path(SOCKET))  # the host's socket, reached through /proc/HOLDER/root
    deadline = time.monotonic() + timeout
    while not ping_socket(sock):
        if proc.poll() is not None or time.monotonic() > deadline:
            tail = log_path.read_text(errors="replace")[-3000:]
            proc.kill()
            raise LabError(f"dockerd in {host.name} did not come up:\n{tail}")
        time.sleep(0.05)
    return proc


def docker_client(host: Host, **kw):
    """A docker SDK client on the host's local socket (as the agent on that host would use)."""
    import docker

    return docker.DockerClient(base_url=f"unix://{host.path(SOCKET)}", **kw)
