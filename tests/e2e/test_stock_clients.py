"""The stock Docker Cloud clients, unmodified on Python 2.7, against a live control plane and
a real BYO node on a lab host (DOCKERCLOUD_API.md, section 8)."""

import json
import re

import pytest

from accounts import services
from accounts.audit import Actor
from agentapi.install import install_command
from nodes.models import Action, Node
from tests.conftest import PASSWORD

from .conftest import wait_for
from .stock_clients import StockClients

pytestmark = [pytest.mark.lab, pytest.mark.slow]


@pytest.fixture
def clients(control_plane, stock_clients_dir, tmp_path):
    user = services.user_signup(username="ops", email="ops@acme.test", password=PASSWORD)
    services.organization_create(actor=Actor(user=user), name="acme")
    _, key = services.apikey_create(actor=Actor(user=user), user=user, label="cli")
    py27, target = stock_clients_dir
    return StockClients(py27, target, control_plane.url, "ops", key, tmp_path)


def test_stock_cli_runs_the_byo_node_lifecycle(clients, control_plane, lab_hosts):
    byo = clients.cli("node", "byo", namespace="acme").stdout
    token = re.search(r"sudo -H sh -s (\S+)", byo).group(1)
    host = lab_hosts(1)[0]
    install = install_command(control_plane.public_url, token)  # ours, not theirs
    result = host.run(["sh", "-c", install], check=False, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    node = wait_for(
        lambda: Node.objects.filter(organization__name="acme", state="Deployed").first(),
        timeout=30,
        message="the BYO node to be Deployed",
    )
    short = str(node.uuid)[:8]

    listing = clients.cli("node", "ls", namespace="acme").stdout
    row = next(line for line in listing.splitlines() if line.startswith(short))
    assert "Deployed" in row and node.docker_version in row

    inspected = json.loads(clients.cli("node", "inspect", short, namespace="acme").stdout)
    assert inspected["uuid"] == str(node.uuid) and inspected["state"] == "Deployed"

    clients.cli("tag", "add", "-t", "web", "-t", "eu", short, namespace="acme")
    node.refresh_from_db()
    assert node.tags == [{"name": "web"}, {"name": "eu"}]

    upgraded = clients.cli("node", "upgrade", short, "--sync", namespace="acme").stdout
    assert "Success" in upgraded
    node.refresh_from_db()
    assert node.state == "Deployed" and node.docker_version
    upgrade = Action.objects.get(action="Node Upgrade Docker")
    assert upgrade.state == "Success" and "Upgrading Docker" in upgrade.logs

    actions = clients.cli("action", "ls").stdout
    assert "Node Upgrade Docker" in actions and f"acme/node/{node.uuid}" in actions

    sdk = clients.sdk(
        "nodes = dockercloud.Node.list()\nprint(len(nodes))\nprint(nodes[0].state)\n",
        namespace="acme",
    )
    assert sdk.split() == ["1", "Deployed"]

    removed = clients.cli("node", "rm", short, "--sync", namespace="acme").stdout
    assert "Success" in removed
    node.refresh_from_db()
    assert node.state == "Terminated" and node.destroyed_datetime is not None
    wait_for(  # the agent answers "deregister" first, then removes its registration
        lambda: host.run("test ! -e /etc/dockercloud/agent.json", check=False).returncode == 0,
        timeout=15,
        message="the agent to forget its registration",
        seen=lambda: (
            f"terminate: {Action.objects.get(action='Node Terminate').logs}\nagent log:\n"
            + host.run("tail -n 20 /var/log/dockercloud/agent.log", check=False).stdout
        ),
    )


def test_stock_clients_see_errors_and_auth_as_they_expect(clients):
    denied = clients.cli("node", "ls", check=False)
    assert denied.returncode == 0  # the personal namespace: empty but fine
    clients.env["DOCKERCLOUD_APIKEY"] = "dck_wrong"
    refused = clients.cli("node", "ls", check=False)
    assert refused.returncode != 0
    assert "Not authorized" in refused.stdout + refused.stderr
