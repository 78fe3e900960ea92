"""Bring your own host, end to end: the install command from the API, run inside a real lab
host, makes a Deployed node that the control plane drives over mutual TLS or the tunnel.

The directly reached node's whole story (installed, listed, installed again, its containers
driven, its agent upgraded) is tests/browser/test_new_user_story.py."""

import base64
import time

import docker
import pytest
import requests

from accounts import services
from accounts.audit import Actor
from lab import import_busybox
from lab.tls import write_tls_files
from nodes.docker_client import docker_client
from nodes.models import Node
from tests.conftest import PASSWORD

from .conftest import HEARTBEAT, wait_for

pytestmark = [pytest.mark.lab, pytest.mark.slow]


def _org_with_key(name: str = "acme"):
    user = services.user_signup(username=f"{name}-op", email=f"op@{name}.test", password=PASSWORD)
    org = services.organization_create(actor=Actor(user=user), name=name)
    _, key = services.apikey_create(actor=Actor(user=user), user=user, label="e2e")
    auth = "Basic " + base64.b64encode(f"{user.username}:{key}".encode()).decode()
    return org, auth


def _install_command(cp, auth: str, ns: str) -> str:
    response = requests.post(
        f"{cp.url}/api/infra/v1/{ns}/token/", headers={"Authorization": auth}, timeout=10
    )
    assert response.status_code == 201, response.text
    command = response.json()["command"]
    assert command.startswith(f"curl -fsSL {cp.public_url}/install/dcr_")
    return command


def _install(host, command: str):
    result = host.run(["sh", "-c", command], check=False, timeout=120)
    assert result.returncode == 0, f"install failed:\n{result.stdout}\n{result.stderr}"
    return result


def _deployed(org, connection: str, timeout: float = 20, host=None) -> Node:
    def ready():
        node = Node.objects.filter(organization=org).first()
        return node if node and node.state == "Deployed" else None

    def seen():
        node = Node.objects.filter(organization=org).first()
        text = f"state={node.state} connection={node.connection!r}" if node else "no node"
        if host is not None:
            log = host.run("tail -n 30 /var/log/dockercloud/agent.log", check=False).stdout
            text += f"; agent log:\n{log}"
        return text

    node = wait_for(ready, timeout=timeout, message="the node to become Deployed", seen=seen)
    assert node.connection == connection
    return node


def _portal(cp, username: str) -> requests.Session:
    """A browser's session on the live portal, logged in through the login form."""
    session = requests.Session()
    session.get(f"{cp.url}/login/", timeout=10).raise_for_status()
    form = {
        "username": username,
        "password": PASSWORD,
        "csrfmiddlewaretoken": session.cookies["csrftoken"],
    }
    response = session.post(
        f"{cp.url}/login/", data=form, headers={"Referer": f"{cp.url}/login/"}, timeout=10
    )
    assert response.ok and "Log out" in response.text
    return session


def _containers_page(cp, org, node: Node) -> str:
    """The node's containers page, served by the control plane's web process, which asks the
    node's daemon (over mutual TLS, or through the tunnel to whichever process has the agent)."""
    response = _portal(cp, f"{org.name}-op").get(
        f"{cp.url}/orgs/{org.name}/nodes/{node.uuid}/containers/", timeout=30
    )
    assert response.status_code == 200
    return response.text


def _run_echo(node: Node) -> bytes:
    client = docker_client(node)
    try:
        import_busybox(client)
        return client.containers.run(
            "local/busybox:lab", ["echo", "hello from the node"], remove=True
        )
    finally:
        client.close()


def test_firewalled_node_works_through_the_tunnel(control_plane, lab_hosts):
    org, auth = _org_with_key()
    host = lab_hosts(1, firewall_2375=True)[0]
    _install(host, _install_command(control_plane, auth, org.name))
    node = _deployed(org, "tunnel", timeout=30, host=host)
    assert _run_echo(node) == b"hello from the node\n"
    client = docker_client(node)
    try:
        container = client.containers.run(
            "local/busybox:lab",
            ["sh", "-c", "for i in 1 2 3; do echo line$i; sleep 0.3; done"],
            detach=True,
        )
        lines = []
        for chunk in container.logs(stream=True, follow=True):
            lines += chunk.decode().split()
            if len(lines) >= 3:
                break
        assert lines == ["line1", "line2", "line3"]
        container.wait(timeout=10)
        page = _containers_page(control_plane, org, node)
        assert "through the agent's tunnel" in page and container.short_id in page
        assert "exited" in page
        container.remove()
    finally:
        client.close()


def test_daemon_refuses_clients_without_the_organizations_certificate(
    control_plane, lab_hosts, tmp_path
):
    org, auth = _org_with_key()
    host = lab_hosts(1)[0]
    _install(host, _install_command(control_plane, auth, org.name))
    node = _deployed(org, "direct", host=host)
    # A client whose certificate comes from another CA (as another organization's would).
    other = write_tls_files(tmp_path, server_ips=[host.address])
    stranger = other.docker_client(f"https://{host.address}:2375")
    with pytest.raises((requests.exceptions.SSLError, docker.errors.DockerException)):
        stranger.ping()
    # No client certificate at all.
    bare = requests.Session()
    bare.trust_env = False
    with pytest.raises(requests.exceptions.SSLError):
        bare.get(f"https://{host.address}:2375/_ping", verify=False, timeout=5)  # noqa: S501
    assert docker_client(node).ping() is True


def test_used_token_is_refused_by_registration(control_plane, lab_hosts):
    org, auth = _org_with_key()
    first, second = lab_hosts(2)
    command = _install_command(control_plane, auth, org.name)
    _install(first, command)
    result = second.run(["sh", "-c", command], check=False, timeout=60)
    assert result.returncode != 0
    assert "already used" in result.stdout + result.stderr
    assert Node.objects.filter(organization=org).count() == 1


def test_killed_agent_and_daemon_make_the_node_unreachable_until_restarted(
    control_plane, lab_hosts
):
    org, auth = _org_with_key()
    host = lab_hosts(1)[0]
    command = _install_command(control_plane, auth, org.name)
    _install(host, command)
    node = _deployed(org, "direct", host=host)
    host.run(
        "for f in supervise agent dockerd; do kill -9 $(cat /run/dockercloud/$f.pid); done",
        timeout=10,
    )
    killed = time.monotonic()
    wait_for(
        lambda: Node.objects.get(pk=node.pk).state == "Unreachable",
        timeout=HEARTBEAT * 3 + 4,
        message="Unreachable after 3 missed heartbeats",
    )
    assert time.monotonic() - killed >= HEARTBEAT * 2  # not before the heartbeats were missed
    _install(host, command)  # the documented way to restart the agent by hand
    wait_for(
        lambda: Node.objects.get(pk=node.pk).state == "Deployed",
        timeout=20,
        message="Deployed again after the restart",
    )
    assert Node.objects.filter(organization=org).count() == 1
