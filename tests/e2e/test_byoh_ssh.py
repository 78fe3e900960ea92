"""Bring your own host over SSH, end to end: the API gets a lab host's address and a password or
key; the control plane's worker logs in with paramiko, runs the install command, and the host
becomes a Deployed node. Failures (wrong password, no SSH server) come back as clear errors."""

import base64

import paramiko
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from accounts import services
from accounts.audit import Actor
from agentapi import ssh
from agentapi.models import SshInstall
from nodes.models import Node
from tests.conftest import PASSWORD

from .conftest import wait_for

pytestmark = [pytest.mark.lab, pytest.mark.slow]

SSH_PASSWORD = "lab-root-password-7"
INSTALL_TIMEOUT = 90  # a lab install takes ~5 s; Docker is already on the machine


def _org_with_key(name: str = "acme"):
    user = services.user_signup(username=f"{name}-op", email=f"op@{name}.test", password=PASSWORD)
    org = services.organization_create(actor=Actor(user=user), name=name)
    _, key = services.apikey_create(actor=Actor(user=user), user=user, label="e2e")
    auth = "Basic " + base64.b64encode(f"{user.username}:{key}".encode()).decode()
    return org, auth


def _request_install(cp, auth: str, ns: str, **body) -> dict:
    url = f"{cp.url}/api/v1/orgs/{ns}/byo-ssh/"
    response = requests.post(url, json=body, headers={"Authorization": auth}, timeout=10)
    assert response.status_code == 202, response.text
    assert response.headers["X-DockerCloud-Action-URI"].startswith("/api/audit/v1/action/")
    return response.json()


def _finished(cp, auth: str, install: dict, timeout: float = INSTALL_TIMEOUT) -> dict:
    def done():
        body = requests.get(
            f"{cp.url}{install['resource_uri']}", headers={"Authorization": auth}, timeout=10
        ).json()
        return body if body["state"] in ("Success", "Failed") else None

    return wait_for(done, timeout=timeout, message=f"the SSH install on {install['host']} to end")


def _deployed(org, timeout: float = 30) -> Node:
    def ready():
        node = Node.objects.filter(organization=org).first()
        return node if node and node.state == "Deployed" else None

    return wait_for(ready, timeout=timeout, message="the node to become Deployed")


def _host_key_fingerprint(host) -> str:
    path = host.state_path("lab") / "ssh" / "ssh_host_ed25519_key"
    return ssh.fingerprint(paramiko.Ed25519Key.from_private_key_file(str(path)))


def _assert_secrets_blanked(install: dict) -> None:
    row = SshInstall.objects.get(uuid=install["uuid"])
    assert (row.password_encrypted, row.private_key_encrypted, row.token_encrypted) == ("", "", "")


def test_password_install_makes_a_deployed_node(control_plane, lab_hosts):
    org, auth = _org_with_key()
    host = lab_hosts(1, sshd=True, password=SSH_PASSWORD)[0]
    install = _request_install(
        control_plane, auth, org.name, host=host.address, password=SSH_PASSWORD
    )
    assert install["state"] == "Pending" and "password" not in install
    done = _finished(control_plane, auth, install)
    logs = done["action"]["logs"]
    assert done["state"] == "Success", f"{done['error']}\n{logs}"
    assert done["host_key_fingerprint"] == _host_key_fingerprint(host)
    # The install script's own output, streamed into the action's log; never the secrets.
    assert f"Connecting to root@{host.address}:22 with a password" in logs
    assert "dockercloud: host: " in logs
    assert SSH_PASSWORD not in logs and "/install/dcr_" not in logs
    _assert_secrets_blanked(install)
    node = _deployed(org)
    assert (node.hostname, node.public_ip, node.connection) == (host.name, host.address, "direct")
    assert done["node_uuid"] == str(node.uuid)


def test_key_install_with_a_pinned_host_key_makes_a_deployed_node(control_plane, lab_hosts):
    org, auth = _org_with_key()
    key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    host = lab_hosts(1, sshd=True, authorized_keys=[public.decode() + " e2e"])[0]
    expected = _host_key_fingerprint(host)
    install = _request_install(
        control_plane,
        auth,
        org.name,
        host=host.address,
        private_key=private,
        host_key_fingerprint=expected,
    )
    done = _finished(control_plane, auth, install)
    assert done["state"] == "Success", f"{done['error']}\n{done['action']['logs']}"
    assert done["expected_host_key_fingerprint"] == done["host_key_fingerprint"] == expected
    assert "(as expected)" in done["action"]["logs"]
    _assert_secrets_blanked(install)
    assert _deployed(org).hostname == host.name


def test_wrong_password_and_missing_sshd_fail_clearly_without_a_node(control_plane, lab_hosts):
    org, auth = _org_with_key()
    with_sshd = lab_hosts(1, sshd=True, password=SSH_PASSWORD)[0]
    without_sshd = lab_hosts(1)[0]
    wrong = _request_install(
        control_plane, auth, org.name, host=with_sshd.address, password="not-the-password"
    )
    unreachable = _request_install(
        control_plane, auth, org.name, host=without_sshd.address, password=SSH_PASSWORD
    )

    done = _finished(control_plane, auth, wrong)
    assert done["state"] == "Failed"
    assert done["error"] == (
        f"SSH authentication failed for root@{with_sshd.address}: check the password or key"
    )
    assert done["action"]["error"] == done["error"]
    assert done["host_key_fingerprint"] == _host_key_fingerprint(with_sshd)
    _assert_secrets_blanked(wrong)

    done = _finished(control_plane, auth, unreachable)
    assert done["state"] == "Failed"
    assert done["error"] == f"could not connect to {without_sshd.address}:22 over SSH"
    _assert_secrets_blanked(unreachable)
    assert not Node.objects.filter(organization=org).exists()
