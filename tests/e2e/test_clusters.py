"""Node clusters on the local provider, driven by the stock docker-cloud CLI: create and deploy
3 nodes, scale to 4 and back to 3, upgrade Docker, terminate (DOCKERCLOUD_API.md, section 8)."""

import json
import subprocess

import pytest

import lab
from accounts import services
from accounts.audit import Actor
from nodes.models import Node, NodeCluster
from tests.conftest import PASSWORD

from .stock_clients import StockClients

pytestmark = [pytest.mark.lab, pytest.mark.slow]


@pytest.fixture
def cli(control_plane, stock_clients_dir, tmp_path):
    user = services.user_signup(username="ops", email="ops@acme.test", password=PASSWORD)
    services.organization_create(actor=Actor(user=user), name="acme")
    _, key = services.apikey_create(actor=Actor(user=user), user=user, label="cli")
    py27, target = stock_clients_dir
    clients = StockClients(py27, target, control_plane.url, "ops", key, tmp_path)
    yield clients
    # Hosts the control plane made through the local provider: never leave one behind.
    made = Node.objects.exclude(provider_host_id="").values_list("provider_host_id", flat=True)
    leftovers = [name for name in made if name in {h.name for h in lab.list_hosts()}]
    if leftovers:
        lab.down(leftovers)


def _cluster_nodes(cluster: NodeCluster, state: str = "Deployed") -> list[Node]:
    return list(cluster.nodes.filter(state=state).order_by("created"))


def _hosts_of(nodes) -> set[str]:
    names = {h.name for h in lab.list_hosts()}
    return {n.provider_host_id for n in nodes if n.provider_host_id in names}


def _frame(line: str) -> dict:
    """One printed event frame; the last line may be cut off when the CLI is stopped."""
    try:
        return json.loads(line)
    except ValueError:
        return {}


def test_cluster_lifecycle_with_the_stock_cli(cli):
    providers = cli.cli("nodecluster", "provider").stdout
    assert "local" in providers
    assert "lab" in cli.cli("nodecluster", "nodetype", "-p", "local").stdout

    events = subprocess.Popen(
        [cli.py27, str(cli.target / "bin" / "docker-cloud"), "event"],
        env=dict(cli.env, DOCKERCLOUD_NAMESPACE="acme"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        created = cli.cli(
            "nodecluster", "create", "-t", "3", "--tag", "lab", "web", "local", "local", "lab",
            "--sync", namespace="acme", timeout=240,
        )  # fmt: skip
        assert "Success" in created.stdout, created.stdout
        cluster = NodeCluster.objects.get(name="web")
        assert cluster.state == "Deployed" and cluster.target_num_nodes == 3
        first = _cluster_nodes(cluster)
        assert len(first) == 3 and len(_hosts_of(first)) == 3
        assert all({"name": "lab"} in n.tags and {"name": "web"} in n.tags for n in first)

        listing = cli.cli("nodecluster", "ls", namespace="acme").stdout
        row = next(line for line in listing.splitlines() if line.startswith("web"))
        assert "Deployed" in row and "3" in row

        cli.cli("nodecluster", "scale", "web", "4", "--sync", namespace="acme", timeout=240)
        cluster.refresh_from_db()
        assert cluster.state == "Deployed" and len(_cluster_nodes(cluster)) == 4
        newest = _cluster_nodes(cluster)[-1]

        cli.cli("nodecluster", "scale", "web", "3", "--sync", namespace="acme", timeout=240)
        cluster.refresh_from_db()
        remaining = _cluster_nodes(cluster)
        assert [n.pk for n in remaining] == [n.pk for n in first]  # the newest went first
        newest.refresh_from_db()
        assert newest.state == "Terminated" and not _hosts_of([newest])

        short = str(first[0].uuid)[:8]
        cli.cli("node", "upgrade", short, "--sync", namespace="acme", timeout=240)
        first[0].refresh_from_db()
        assert first[0].state == "Deployed" and first[0].docker_version

        cli.cli("nodecluster", "rm", "web", "--sync", namespace="acme", timeout=240)
        cluster.refresh_from_db()
        assert cluster.state == "Terminated"
        assert not _hosts_of(first) and not cluster.nodes.exclude(state="Terminated").exists()

        actions = cli.cli("action", "ls").stdout
        for name in ("Node Cluster Deploy", "Node Cluster Scale", "Node Cluster Terminate"):
            assert name in actions
    finally:
        events.terminate()
        output, _ = events.communicate(timeout=10)
    frames = [_frame(line) for line in output.splitlines()]
    node_states = {f.get("state") for f in frames if f.get("type") == "node"}
    assert "Deployed" in node_states, output[-2000:]


def test_scale_on_an_undeployed_cluster_only_changes_the_target(cli):
    created = json.loads(
        cli.sdk(
            "import json\n"
            "c = dockercloud.NodeCluster.create(name='idle', node_type="
            "'/api/infra/v1/nodetype/local/lab/', region='/api/infra/v1/region/local/local/', "
            "target_num_nodes=2)\n"
            "c.save()\n"
            "print(json.dumps({'uuid': c.uuid, 'state': c.state}))\n",
            namespace="acme",
        )
    )
    assert created["state"] == "Init"
    cli.cli("nodecluster", "scale", created["uuid"][:8], "5", namespace="acme")
    cluster = NodeCluster.objects.get(uuid=created["uuid"])
    assert cluster.state == "Init" and cluster.target_num_nodes == 5
    assert not cluster.nodes.exists()
