"""The docker SDK client for a node: mutual TLS to node:2375, or through the agent's tunnel."""

import hashlib
import json
import os
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Protocol, cast

import docker
import requests
from django.conf import settings

from core import crypto

from . import selectors
from .models import Connection, Node, NodeState
from .tunnel import tunnel_socket_path

DOCKER_PORT = 2375
# Docker Engine 20.10's API; later engines still serve it. Fixed (not "auto") so that no request
# goes out before `trust_env` is off: with REQUESTS_CA_BUNDLE in the environment, requests
# would verify the daemon against the system bundle instead of the organization's CA.
API_VERSION = "1.41"
# A daemon's answer is read up to these sizes, within twice the client's timeout: the daemon is
# the node's, and any node may be a fake one answering without end.
MAX_PING_ANSWER = 1024
MAX_ANSWER = 8 * 1024 * 1024
READ_PIECE = 64 * 1024


class DaemonAnswerError(Exception):
    """The daemon answered with an error status, too much, too slowly, or not in JSON."""


def _client(**kwargs) -> docker.DockerClient:
    client = docker.DockerClient(version=API_VERSION, **kwargs)
    client.api.trust_env = False
    return client


def _tls_files(node: Node) -> tuple[str, str, str]:
    """Write the organization's CA and client pair once to a private dir (the SDK wants paths)."""
    authority = selectors.org_ca(organization=node.organization)
    if authority is None:
        raise RuntimeError(f"organization {node.organization} has no CA yet")
    material = {
        "ca.pem": authority.ca_cert,
        "cert.pem": authority.client_cert,
        "key.pem": crypto.decrypt(authority.client_key_encrypted),
    }
    stamp = hashlib.sha256("".join(material.values()).encode()).hexdigest()[:16]
    folder = Path(settings.VAR_DIR) / "tls" / f"{node.organization.uuid}-{stamp}"
    if not (folder / "key.pem").exists():
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        for name, content in material.items():
            # A file of its own per writer: threads of one worker may do this at once.
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.")  # mode 600
            with os.fdopen(fd, "w") as fh:
                fh.write(content)
            os.replace(tmp, folder / name)
    return str(folder / "ca.pem"), str(folder / "cert.pem"), str(folder / "key.pem")


def prepare(node: Node) -> None:
    """Read what a client for the node needs from the database now (its organization's TLS
    files), so that `docker_client` can then run in a thread that holds no connection."""
    if node.connection != Connection.TUNNEL:
        node._tls_paths = _tls_files(node)


class NotPinned(RuntimeError):
    """The node has no daemon certificate the workers may accept (terminated, or registered
    before certificates were pinned): it is reached through its tunnel or not at all."""


class PinnedAdapter(requests.adapters.HTTPAdapter):
    """HTTPS that accepts one certificate only: the one the organization's CA issued to the
    node at registration (the chain is still verified against the CA).

    The CA signs many nodes' certificates, so "signed by our CA for this address" would accept
    any node of the organization, or a terminated one, answering at the address we dial.
    """

    def __init__(self, sha256: str, **kwargs):
        self.sha256 = sha256  # set before the base class builds its pool manager
        super().__init__(**kwargs)

    def init_poolmanager(self, *args, **kwargs):
        kwargs["assert_fingerprint"] = self.sha256
        super().init_poolmanager(*args, **kwargs)


def direct_client(node: Node, *, timeout: float = 30) -> docker.DockerClient:
    if node.state == NodeState.TERMINATED or not node.cert_sha256:
        raise NotPinned(f"node {node.uuid} has no daemon certificate to trust")
    ca_path, cert_path, key_path = node._tls_paths or _tls_files(node)
    tls = docker.tls.TLSConfig(client_cert=(cert_path, key_path), ca_cert=ca_path, verify=True)
    client = _client(base_url=f"https://{node.public_ip}:{DOCKER_PORT}", tls=tls, timeout=timeout)
    client.api.mount("https://", PinnedAdapter(node.cert_sha256))
    return client


def tunnel_client(node: Node, *, timeout: float = 30) -> docker.DockerClient:
    path = tunnel_socket_path(node.uuid)
    return _client(base_url=f"unix://{path}", timeout=timeout)


def docker_client(node: Node, *, timeout: float = 30) -> docker.DockerClient:
    """The client for the node's current connection mode (direct or tunnel)."""
    if node.connection == Connection.TUNNEL:
        return tunnel_client(node, timeout=timeout)
    return direct_client(node, timeout=timeout)


def _cut(connection) -> None:
    """Past the deadline: end the connection under a read that may be blocked in it."""
    sock = getattr(connection, "sock", None)
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class _SdkRequests(Protocol):
    """Two methods of the SDK's APIClient that its type stubs leave out (private, unchanged
    since docker-py 1.x). Its public `get` is plain requests, which would skip the client's
    timeout and the headers of the docker config file that `_get` adds."""

    def _get(self, url: str, **kwargs: Any) -> requests.Response: ...

    def _url(self, pathfmt: str, *args: str) -> str: ...


def daemon_get(client: docker.DockerClient, path: str, *, limit: int, params=None) -> bytes:
    """The body of `GET path` on the daemon's API: at most `limit` bytes, read within twice
    the client's timeout (the SDK would read any answer whole, however long it lasts)."""
    api = client.api
    budget = 2 * api.timeout
    deadline = time.monotonic() + budget
    sdk = cast(_SdkRequests, api)
    response = sdk._get(sdk._url(path), params=params, stream=True)  # the SDK's own GET
    watchdog = threading.Timer(budget, _cut, args=(response.raw.connection,))
    watchdog.daemon = True
    watchdog.start()
    try:
        if response.status_code != 200:
            raise DaemonAnswerError(f"the daemon answered HTTP {response.status_code}")
        if response.headers.get("Content-Encoding", "identity") != "identity":
            raise DaemonAnswerError("the daemon answered in an encoding it never uses")
        body = bytearray()
        for piece in response.raw.stream(READ_PIECE, decode_content=False):
            body += piece
            if len(body) > limit:
                raise DaemonAnswerError(f"the daemon's answer is larger than {limit} bytes")
            if time.monotonic() > deadline:
                raise DaemonAnswerError(f"the daemon's answer took more than {budget:.0f} s")
        return bytes(body)
    finally:
        watchdog.cancel()
        response.close()


def daemon_ping(client: docker.DockerClient) -> bool:
    return daemon_get(client, "/_ping", limit=MAX_PING_ANSWER) == b"OK"


def daemon_containers(client: docker.DockerClient) -> list[dict]:
    """`docker ps -a` as the daemon answers it, each entry in the shape the pages read."""
    try:
        body = daemon_get(client, "/containers/json", limit=MAX_ANSWER, params={"all": 1})
        listed = json.loads(body)
    except ValueError:
        raise DaemonAnswerError("the daemon's answer is not JSON") from None
    if not isinstance(listed, list):
        raise DaemonAnswerError("the daemon's answer is not a list of containers")
    return [_container(c) for c in listed if isinstance(c, dict)]


def _container(given: dict) -> dict:
    def text(key: str) -> str:
        value = given.get(key)
        return value if isinstance(value, str) else ""

    names, ports, created = given.get("Names"), given.get("Ports"), given.get("Created")
    return {
        "Id": text("Id"),
        "Names": [n for n in names if isinstance(n, str)] if isinstance(names, list) else [],
        "Image": text("Image"),
        "State": text("State"),
        "Status": text("Status"),
        "Ports": [p for p in ports if isinstance(p, dict)] if isinstance(ports, list) else [],
        "Created": created if isinstance(created, int) and 0 <= created < 2**40 else 0,
    }
