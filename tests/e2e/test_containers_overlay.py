"""Containers on the overlay, end to end on real lab hosts: through the API, a listener on
node 1 is reached by address from a client on node 2; redeployed to node 3 it keeps its
address and is reached again; terminated, its address returns to the pool.

The image is the lab's own busybox, imported on each node (no registry is reachable here)."""

import base64
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from containers.models import Container
from lab import import_busybox
from nodes.docker_client import docker_client
from nodes.models import Action
from overlay.models import OverlayAddress

from .conftest import wait_for
from .stock_clients import StockClients
from .test_byoh import _install, _install_command, _org_with_key
from .test_overlay import _deployed_nodes, _mesh

pytestmark = [pytest.mark.lab, pytest.mark.slow]
IMAGE = "local/busybox:lab"
PORT = 7777


@pytest.fixture
def control_plane_env():
    return {"DC_OVERLAY_ENCRYPTED": "false", "DC_OVERLAY_RECONCILE_INTERVAL": "2"}


class Api:
    def __init__(self, cp, auth: str):
        self.base, self.headers = f"{cp.url}/api/app/v1/acme/container/", {"Authorization": auth}

    def call(self, method: str, path: str = "", body=None, want: int = 202) -> dict:
        url = path if path.startswith("http") else self.base + path
        response = requests.request(method, url, json=body, headers=self.headers, timeout=30)
        assert response.status_code == want, response.text
        return response.json()

    def done(self, body: dict, action: str, outcome: str = "Success") -> Container:
        """Wait for the container's latest `action` to finish with `outcome`."""

        def finished():
            row = Action.objects.filter(action=action, object_uuid=body["uuid"]).first()
            return row if row and row.state in ("Success", "Failed") else None

        row = wait_for(finished, timeout=90, message=f"{action} of {body['name']}")
        assert row.state == outcome, f"{row.error}\n{row.logs}"
        return Container.objects.get(uuid=body["uuid"])

    def logs(self, body: dict) -> str:
        lines = self.call("get", f"{body['uuid']}/logs/?tail=50", want=200)["logs"]
        return "\n".join(line["log"] for line in lines)


def _answered(api: Api, client: dict, listener: Container) -> str:
    """The client's log shows the listener's answer (overlay peers learn each other within
    seconds: the client asks again every second)."""
    expected = f"pong-{listener.docker_id[:12]}"
    seen = []

    def answered():
        seen.append(api.logs(client))
        return expected in seen[-1]

    wait_for(answered, timeout=60, interval=1, message=expected, seen=lambda: seen[-1][-500:])
    return expected


def _stock_cli(cp, auth: str, stock_clients_dir, home) -> StockClients:
    user, key = base64.b64decode(auth.split()[1]).decode().split(":", 1)
    py27, target = stock_clients_dir
    return StockClients(py27, target, cp.url, user, key, home)


def test_a_container_keeps_its_address_across_nodes(
    control_plane, lab_hosts, stock_clients_dir, tmp_path
):
    org, auth = _org_with_key("acme")
    hosts = lab_hosts(3)
    with ThreadPoolExecutor(3) as pool:
        commands = [_install_command(control_plane, auth, org.name) for _ in hosts]
        list(pool.map(_install, hosts, commands))
    n1, n2, n3 = _deployed_nodes(org, 3)
    for node in (n1, n2, n3):
        client = docker_client(node)
        import_busybox(client)
        client.close()
    _mesh(org, 3, managers=3)
    api = Api(control_plane, auth)

    serve = f"while true; do echo pong-$(hostname) | nc -l -p {PORT}; done"
    listener = api.call(
        "post", body={"name": "listener", "image": IMAGE, "node": str(n1.uuid),
                      "run_command": f"sh -c '{serve}'"},
    )  # fmt: skip
    first = api.done(listener, "Container Run")
    assert first.state == "Running" and first.node_id == n1.pk
    address = listener["private_ip"]
    assert first.private_ip == address

    ask = f"while true; do nc -w 2 {address} {PORT} </dev/null; sleep 1; done"
    client = api.call(
        "post", body={"name": "client", "image": IMAGE,
                      "node": f"/api/infra/v1/acme/node/{n2.uuid}/",
                      "run_command": f"sh -c '{ask}'"},
    )  # fmt: skip
    assert client["private_ip"] != address
    api.done(client, "Container Run")
    answer = _answered(api, client, first)
    # The stock CLI reads the same lines through the log stream the SDK opens.
    cli = _stock_cli(control_plane, auth, stock_clients_dir, tmp_path)
    streamed = cli.cli("container", "logs", "client", "--tail", "5", namespace="acme").stdout
    assert answer in streamed, streamed

    moved = api.call("post", f"{listener['uuid']}/redeploy/", {"node": str(n3.uuid)})
    assert moved["private_ip"] == address
    second = api.done(listener, "Container Redeploy")
    assert second.node_id == n3.pk and second.private_ip == address
    assert second.docker_id != first.docker_id
    _answered(api, client, second)
    on_n1 = docker_client(n1)
    assert not on_n1.api.containers(all=True, filters={"name": "listener"})  # removed there
    on_n1.close()

    # The stock CLI stops and starts it, following each action to its end.
    assert "Success" in cli.cli("container", "stop", "client", "--sync", namespace="acme").stdout
    assert api.done(client, "Container Stop").state == "Stopped"
    assert "Success" in cli.cli("container", "start", "client", "--sync", namespace="acme").stdout
    restarted = api.done(client, "Container Start")
    assert restarted.state == "Running" and restarted.private_ip == client["private_ip"]

    # A container that exits by itself shows as Stopped, with its exit code (the node's
    # events say so).
    once = api.call("post", body={"name": "once", "image": IMAGE, "run_command": "sh -c 'exit 3'"})
    api.done(once, "Container Run")
    wait_for(
        lambda: Container.objects.filter(uuid=once["uuid"], state="Stopped", exit_code=3).exists(),
        timeout=30,
        message="the exited container to be Stopped with its exit code",
    )

    # An image the node does not have and cannot pull: the run fails, and says so.
    missing = api.call(
        "post", body={"name": "nope", "image": "local/missing:1", "tag": "x"}, want=400
    )
    assert "tag x" in missing["error"]
    missing = api.call("post", body={"name": "nope", "image": "local/missing:1"})
    failed = api.done(missing, "Container Run", outcome="Failed")
    assert failed.state == "Stopped" and "could not be pulled" in failed.error

    api.call("delete", f"{listener['uuid']}/")
    ended = api.done(listener, "Container Terminate")
    assert ended.state == "Terminated" and ended.destroyed_datetime is not None
    assert not OverlayAddress.objects.filter(address=address).exists()  # back in the pool
    again = api.call("post", body={"name": "again", "image": IMAGE, "node": str(n2.uuid)})
    assert again["private_ip"] == address  # the lowest free address is given out again
    api.call("delete", f"{client['uuid']}/")
    api.done(client, "Container Terminate")
