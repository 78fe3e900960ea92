"""Node clusters on the local provider, driven by the stock docker-cloud CLI: create and deploy
3 nodes, scale to 4 and back to 3, upgrade Docker, terminate (DOCKERCLOUD_API.md, section 8)."""

import json
import subprocess

import pytest

import lab
from accounts import services
from accounts.audit import Actor
from nodes.models import Action, Node, NodeCluster
from providers.drivers.local import LocalDriver
from tests.conftest import PASSWORD

from .conftest import wait_for
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
    made = {LocalDriver.host_name(uuid) for uuid in Node.objects.values_list("uuid", flat=True)}
    leftovers = [h.name for h in lab.list_hosts() if h.name in made]
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

        cli.cli("nodecluster", "scale", "web", "2", "--sync", namespace="acme", timeout=240)
        cluster.refresh_from_db()
        remaining = _cluster_nodes(cluster)
        assert [n.pk for n in remaining] == [n.pk for n in first[:2]]  # newest went first
        newest.refresh_from_db()
        assert newest.state == "Terminated" and not _hosts_of([newest, first[2]])

        upgraded, doomed = remaining
        cli.cli("node", "upgrade", str(upgraded.uuid)[:8], "--sync", namespace="acme", timeout=240)
        upgraded.refresh_from_db()
        assert upgraded.state == "Deployed" and upgraded.docker_version

        cli.cli("node", "rm", str(doomed.uuid)[:8], "--sync", namespace="acme", timeout=120)
        doomed.refresh_from_db()
        cluster.refresh_from_db()
        assert doomed.state == "Terminated" and not _hosts_of([doomed])
        assert cluster.target_num_nodes == 1 and len(_cluster_nodes(cluster)) == 1

        cli.cli("nodecluster", "rm", "web", "--sync", namespace="acme", timeout=240)
        cluster.refresh_from_db()
        assert cluster.state == "Terminated"
        assert not _hosts_of(first) and not cluster.nodes.exclude(state="Terminated").exists()

        user_actions = Action.objects.filter(is_user_action=True)
        assert {a.state for a in user_actions} == {"Success"}, [
            (a.action, a.state, a.error) for a in user_actions
        ]
        actions = cli.cli("action", "ls").stdout
        for name in (
            "Node Cluster Deploy",
            "Node Cluster Scale",
            "Node Upgrade Docker",
            "Node Terminate",
            "Node Cluster Terminate",
        ):
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


def _describe(cluster: NodeCluster) -> str:
    """The cluster, its nodes, and the boot log of a node that is still deploying."""
    cluster.refresh_from_db()
    nodes = list(cluster.nodes.all())
    text = f"cluster {cluster.state}, nodes {[(n.state, n.provider_host_id) for n in nodes]}"
    waiting = [n for n in nodes if n.state == "Deploying" and n.provider_host_id]
    if waiting and waiting[0].provider_host_id in {h.name for h in lab.list_hosts()}:
        host = lab.get_host(waiting[0].provider_host_id)
        boot = host.run("tail -n 20 /var/log/cloud-init-output.log", check=False).stdout
        text += f"\nboot log of {host.name}:\n{boot}"
    return text


def test_a_crash_in_the_middle_of_the_deploy_changes_nothing(cli, control_plane):
    created = cli.cli(
        "nodecluster", "create", "-t", "3", "db", "local", "local", "lab", namespace="acme"
    )  # fmt: skip
    assert created.returncode == 0
    cluster = NodeCluster.objects.get(name="db")
    # Mid-deploy: some hosts requested, not all nodes Deployed yet.
    wait_for(
        lambda: cluster.nodes.exclude(provider_host_id="").exists(),
        timeout=60,
        message="the first host to be requested",
    )
    assert cluster.nodes.filter(state="Deployed").count() < 3
    control_plane.crash()
    control_plane.start()
    deploy = Action.objects.get(action="Node Cluster Deploy")
    wait_for(
        lambda: Action.objects.get(pk=deploy.pk).state == "Success",
        timeout=180,
        message="the deploy action to succeed after the crash",
        seen=lambda: _describe(cluster),
    )
    cluster.refresh_from_db()
    live = cluster.nodes.exclude(state="Terminated")
    assert cluster.state == "Deployed" and live.count() == 3
    assert set(live.values_list("state", flat=True)) == {"Deployed"}
    assert len(_hosts_of(live)) == 3  # one host per node: none made twice
