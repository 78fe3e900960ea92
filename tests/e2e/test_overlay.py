"""The mesh on real lab hosts: three nodes of one organization and one of another, brought in
by the install command; containers on the organization's overlay reach each other by address
across nodes, keep it when moved, and another organization's container reaches neither; a node
installed later joins by itself; a terminated manager is replaced and traffic still flows.

The lab runs the overlay unencrypted: its kernel drops IPsec ESP (shared LAB.md)."""

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import docker
import pytest
import requests

from lab import import_busybox
from nodes.docker_client import docker_client
from nodes.models import Node
from overlay import tokens
from overlay.addresses import address_allocate
from overlay.models import MemberStatus, OrgOverlay, OverlayMember
from overlay.services import OverlayUnavailable, network_attach

from .conftest import _redis_url, wait_for
from .test_byoh import _install, _install_command, _org_with_key

pytestmark = [pytest.mark.lab, pytest.mark.slow]
IMAGE = "local/busybox:lab"
PORT = 7777


@pytest.fixture
def control_plane_env():
    return {"DC_OVERLAY_ENCRYPTED": "false", "DC_OVERLAY_RECONCILE_INTERVAL": "2"}


@pytest.fixture
def shared_locks(settings):
    """This process takes the swarm's lock in the control plane's own cache, as a worker."""
    settings.DC_OVERLAY_ENCRYPTED = False
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": _redis_url(),
        }
    }
    yield  # (Django's setting_changed handler drops the cache connections it had)


def _deployed_nodes(org, count: int, timeout: float = 60) -> list[Node]:
    def ready():
        nodes = list(Node.objects.filter(organization=org, state="Deployed").order_by("created"))
        return nodes if len(nodes) >= count else None

    return wait_for(ready, timeout=timeout, message=f"{count} Deployed nodes of {org}")


def _mesh(org, count: int, managers: int):
    """Wait until `count` members are Ready with `managers` managers (reconciled by itself)."""

    def settled():
        members = list(OverlayMember.objects.filter(overlay__organization=org, status="Ready"))
        overlay = OrgOverlay.objects.filter(organization=org).first()
        ok = (
            overlay is not None
            and overlay.network_id
            and len(members) == count
            and sum(m.manager for m in members) == managers
        )
        return members if ok else None

    def seen():
        rows = OverlayMember.objects.filter(overlay__organization=org)
        return [(m.node.public_ip, m.status, m.manager, m.reason) for m in rows]

    return wait_for(
        settled, timeout=90, interval=0.5, message=f"{org}'s mesh of {count}", seen=seen
    )


def _run(node: Node, network: str, address: str, cmd: list[str], *, detach: bool, name=None):
    """`docker run --network NETWORK --ip ADDRESS` on the node's daemon, as the container
    layer does."""
    client = docker_client(node)
    api = client.api
    import_busybox(client)
    created = api.create_container(
        IMAGE,
        cmd,
        name=name,
        host_config=api.create_host_config(network_mode=network),
        networking_config=api.create_networking_config(
            {network: api.create_endpoint_config(ipv4_address=address)}
        ),
    )
    container = client.containers.get(created["Id"])
    try:
        container.start()
    except docker.errors.APIError:
        container.remove(force=True)
        raise
    if detach:
        client.close()
        return container
    try:
        container.wait(timeout=20)
        return container.logs().decode(errors="replace")
    finally:
        container.remove(force=True)
        client.close()


def _listener(node: Node, network: str, address: str):
    script = f"while true; do echo pong-{node.hostname} | nc -l -p {PORT}; done"
    return _run(node, network, address, ["sh", "-c", script], detach=True, name="listener")


def _reach(node: Node, network: str, source: str, target: str) -> str:
    script = f"nc -w 2 {target} {PORT} </dev/null || echo unreachable"
    return _run(node, network, source, ["sh", "-c", script], detach=False)


def _reached(node, network, source, target, timeout: float = 30) -> str:
    """Overlay peers learn each other through gossip within a few seconds: retried."""
    seen = []

    def once():
        out = _reach(node, network, source, target)
        seen.append(out)
        return out if "pong" in out else None

    return wait_for(
        once, timeout=timeout, interval=0.5, message=f"{target}:{PORT}", seen=lambda: seen[-3:]
    )


def _terminate(cp, auth: str, ns: str, node: Node) -> None:
    response = requests.delete(
        f"{cp.url}/api/infra/v1/{ns}/node/{node.uuid}/", headers={"Authorization": auth}, timeout=10
    )
    assert response.status_code == 202, response.text


@pytest.fixture
def node_logs(lab_hosts):
    """What each host's daemon said, printed when the test fails (pytest shows it then)."""
    made = []

    def hosts(n):
        made.extend(lab_hosts(n))
        return made

    yield hosts
    for host in made:
        print(f"---- {host.name} {host.address}: swarm and dockerd.log ----")
        print(host.run("docker info -f '{{json .Swarm}}'", check=False).stdout)
        print(host.run("grep -v kernel.param /var/log/dockercloud/dockerd.log | tail -n 15",
                       check=False).stdout)  # fmt: skip


def test_overlay_mesh_across_nodes_and_organizations(control_plane, node_logs, shared_locks):
    org_a, auth_a = _org_with_key("acme")
    org_b, auth_b = _org_with_key("rival")
    hosts = node_logs(5)
    commands = [_install_command(control_plane, auth_a, org_a.name) for _ in range(4)]
    commands[3] = _install_command(control_plane, auth_b, org_b.name)
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(_install, hosts[:4], commands))
    a1, a2, a3 = _deployed_nodes(org_a, 3)
    (b1,) = _deployed_nodes(org_b, 1)
    started = time.monotonic()
    _mesh(org_a, 3, managers=3)
    _mesh(org_b, 1, managers=1)
    print(f"meshes settled {time.monotonic() - started:.1f} s after the nodes were Deployed")
    overlay_a = OrgOverlay.objects.get(organization=org_a)
    overlay_b = OrgOverlay.objects.get(organization=org_b)
    assert overlay_a.swarm_id and overlay_b.swarm_id and overlay_a.swarm_id != overlay_b.swarm_id
    assert not overlay_a.encrypted and overlay_a.subnet != overlay_b.subnet

    net_a = network_attach(node=a1)
    assert network_attach(node=a2) == network_attach(node=a3) == net_a
    net_b = network_attach(node=b1)
    assert net_b != net_a
    server = address_allocate(organization=org_a, holder=uuid.uuid4())
    client_ip = address_allocate(organization=org_a, holder=uuid.uuid4())
    stranger_ip = address_allocate(organization=org_b, holder=uuid.uuid4())

    listener = _listener(a1, net_a, server)
    assert f"pong-{a1.hostname}" in _reached(a2, net_a, client_ip, server)
    assert "unreachable" in _reach(b1, net_b, stranger_ip, server)

    listener.remove(force=True)  # "redeployed" to a3, same address
    listener = _listener(a3, net_a, server)
    assert f"pong-{a3.hostname}" in _reached(a2, net_a, client_ip, server)
    assert "unreachable" in _reach(b1, net_b, stranger_ip, server)
    with pytest.raises(docker.errors.APIError, match="not found"):  # B's node cannot see A's
        _run(b1, net_a, stranger_ip, ["true"], detach=False)

    # A fourth node of A, installed later, joins the mesh by itself (as a worker).
    _install(hosts[4], _install_command(control_plane, auth_a, org_a.name))
    a4 = _deployed_nodes(org_a, 4)[-1]
    started = time.monotonic()
    members = _mesh(org_a, 4, managers=3)
    print(f"the fourth node joined {time.monotonic() - started:.1f} s after it was Deployed")
    assert not next(m for m in members if m.node_id == a4.pk).manager

    # Its gossip port closed, the node is shown with the reason, not silently left out.
    rule = ["INPUT", "!", "-i", "lo", "-p", "tcp", "--dport", "7946", "-j", "DROP"]
    hosts[4].run(["iptables", "-w", "-I", *rule])
    reason = f"overlay: cannot reach {a4.public_ip}:7946"
    wait_for(
        lambda: OverlayMember.objects.filter(node=a4, status="Unreachable", reason=reason).exists(),
        timeout=30,
        message=reason,
    )
    assert OverlayMember.objects.filter(node=a2, status="Ready").exists()  # not its peers
    with pytest.raises(OverlayUnavailable, match=reason):
        network_attach(node=a4)
    hosts[4].run(["iptables", "-w", "-D", *rule])
    _mesh(org_a, 4, managers=3)

    # A manager is terminated: it leaves, the worker takes its place, traffic still flows.
    old_token = tokens.worker(overlay_a)
    started = time.monotonic()
    _terminate(control_plane, auth_a, org_a.name, a1)
    wait_for(
        lambda: Node.objects.get(pk=a1.pk).state == "Terminated",
        timeout=60,
        message="the manager's termination",
    )
    members = _mesh(org_a, 3, managers=3)
    print(f"manager replaced {time.monotonic() - started:.1f} s after its termination began")
    assert {m.node_id for m in members} == {a2.pk, a3.pk, a4.pk}
    assert OverlayMember.objects.get(node=a1).status == MemberStatus.LEFT
    overlay_a.refresh_from_db()
    # Rotated when the node left (or by the next pass, if raft was electing a leader then).
    wait_for(
        lambda: tokens.worker(OrgOverlay.objects.get(pk=overlay_a.pk)) != old_token,
        timeout=60,
        message="the join tokens rotated after the manager left",
    )
    assert f"pong-{a3.hostname}" in _reached(a4, net_a, client_ip, server)
    listener.remove(force=True)

    shown = requests.get(
        f"{control_plane.url}/api/infra/v1/{org_a.name}/overlay/",
        headers={"Authorization": auth_a},
        timeout=10,
    )
    assert shown.status_code == 200 and shown.json()["subnet"] == overlay_a.subnet
    assert sorted(m["role"] for m in shown.json()["members"]) == ["manager"] * 3
    # The join tokens were never logged nor shown.
    for text in (control_plane.log_text(), shown.text):
        assert "SWMTKN" not in text and tokens.worker(overlay_a) not in text
