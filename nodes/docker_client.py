"""The docker SDK client for a node: mutual TLS to node:2375, or through the agent's tunnel."""

import hashlib
import os
import tempfile
from pathlib import Path

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
    ca_path, cert_path, key_path = getattr(node, "_tls_paths", None) or _tls_files(node)
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
