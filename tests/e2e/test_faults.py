"""Faults a node rides out, with a real agent on a lab host, the control plane's web, worker and
beat processes, and 2 s heartbeats (three missed make a node Unreachable), one story:

0. The Celery worker killed in the middle of a Docker upgrade (whose command blocks): beat's
   reaper fails the action with a message saying so once its deadline passed, and returns the
   node (its agent still heartbeating) to Deployed; a new worker runs a health check.
1. Redis restarted (stopped by its pid, started again on its port) while the agent is connected
   and containers come and go: the agent's socket stays open (or is back within 2 s), it joins
   its group again within 2 s of Redis, the node never turns Unreachable, and every event of the
   node is stored, by sequence, none missing.
2. The node's network cut (iptables inside its host) for longer than three heartbeats: it turns
   Unreachable saying why (API, event), Deployed again once the network is back, the reason
   cleared, and again every event stored by sequence.
3. The web process holding the agent's socket killed and started again: the agent reconnects
   at once (its connection was healthy) and replays what the daemon did meanwhile.

The control plane runs on a Redis of this test's own (started with scripts/testenv.py's code):
restarting the suite's shared one would fail the other xdist worker's tests.
"""

import importlib.util
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import redis
import requests

from lab import import_busybox, net
from nodes.docker_client import docker_client
from nodes.models import Action, DockerEvent, Node

from .conftest import HEARTBEAT, wait_for
from .test_byoh import _deployed, _install, _install_command, _org_with_key

pytestmark = [pytest.mark.lab, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
REDIS_DOWN = 2.0  # seconds Redis stays stopped
CUT = 3 * HEARTBEAT + 2  # seconds: longer than the three heartbeats of grace
# From the cut: the grace after the last heartbeat (up to one interval before the cut), the
# sweep's next pass (every second), and a busy machine's slack.
UNREACHABLE_WITHIN = 4 * HEARTBEAT + 5
REJOIN = 2.0  # seconds from Redis back to the agent's socket reachable again
RECONNECT = 5 * 1.25 + 2  # seconds from the web answering to the agent connected again
UPGRADE_TIMEOUT = 4  # seconds the worker would wait for the agent
GRACE = 1


def _testenv():
    spec = importlib.util.spec_from_file_location("testenv", ROOT / "scripts" / "testenv.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class PrivateRedis:
    """A Redis server of the test's own, stopped and started again by its pid on one port."""

    def __init__(self):
        self.testenv = _testenv()
        self.dir = Path(tempfile.mkdtemp(prefix="dc-redis-"))  # short: it holds a unix socket
        self.state = self.testenv.start_redis(self.dir)
        self.url = f"redis://127.0.0.1:{self.state['redis_port']}/0"

    def stop(self) -> None:
        self.testenv.stop_pid(self.state["redis_pid"])

    def start(self) -> None:
        self.state = self.testenv.start_redis(self.dir, self.state["redis_port"])

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def private_redis():
    server = PrivateRedis()
    yield server
    server.close()


@pytest.fixture
def control_plane_env(private_redis) -> dict:
    return {
        "REDIS_URL": private_redis.url,
        "DC_UPGRADE_DOCKER_COMMAND": "sleep 120",  # the upgrade never finishes while we look
        "DC_DOCKER_UPGRADE_TIMEOUT": str(UPGRADE_TIMEOUT),
        "DC_ACTION_GRACE": str(GRACE),
    }


def _worker_killed_mid_upgrade(cp, auth: str, host, node) -> None:
    response = requests.post(
        f"{cp.url}/api/infra/v1/acme/node/{node.uuid}/docker-upgrade/",
        headers={"Authorization": auth},
        timeout=10,
    )
    assert response.status_code == 202, response.text
    uuid = response.headers["X-DockerCloud-Action-URI"].rstrip("/").rsplit("/", 1)[1]
    wait_for(
        lambda: Action.objects.filter(uuid=uuid, state="In progress").exists(),
        timeout=10,
        interval=0.05,
        message="a worker to start the upgrade",
    )
    wait_for(
        lambda: "sleep 120" in host.run("ps -eo args", check=False).stdout,
        timeout=UPGRADE_TIMEOUT - 1,
        interval=0.05,
        message="the agent to run the upgrade command",
    )
    cp.kill_worker()
    killed = time.monotonic()
    assert Action.objects.get(uuid=uuid).state == "In progress"
    assert Node.objects.get(pk=node.pk).state == "Upgrading"
    cp.start_worker()  # as the worker's supervisor would: it runs beat's jobs

    def reaped():
        action = Action.objects.get(uuid=uuid)
        return action if action.state != "In progress" else None

    action = wait_for(
        reaped,
        timeout=UPGRADE_TIMEOUT + GRACE + 20,
        message="the reaper to fail the action",
        seen=lambda: f"node {Node.objects.get(pk=node.pk).state}",
    )
    took = time.monotonic() - killed
    message = (
        f"No worker finished this in {UPGRADE_TIMEOUT + GRACE} seconds; "
        "the node was returned to Deployed."
    )
    assert action.state == "Failed" and action.error == message
    assert action.logs.endswith(message + "\n")
    assert Node.objects.get(pk=node.pk).state == "Deployed"
    print(f"worker killed mid-upgrade: reaped {took:.1f} s after the kill")

    # What the API shows the user, and the node works on.
    shown = requests.get(
        f"{cp.url}/api/audit/v1/action/{uuid}/", headers={"Authorization": auth}, timeout=10
    ).json()
    assert shown["state"] == "Failed" and message in shown["logs"]
    check = requests.post(
        f"{cp.url}/api/infra/v1/acme/node/{node.uuid}/health-check/",
        headers={"Authorization": auth},
        timeout=10,
    )
    assert check.status_code == 202, check.text
    checked = check.headers["X-DockerCloud-Action-URI"].rstrip("/").rsplit("/", 1)[1]
    wait_for(
        lambda: Action.objects.get(uuid=checked).state == "Success",
        timeout=20,
        message="the new worker to run a health check",
    )


def _agent_connections(host) -> int:
    log = host.run("cat /var/log/dockercloud/agent.log", check=False).stdout
    return log.count("control channel connected")


def _churn(host, name: str) -> None:
    """A container started and removed: create, start, kill, die, destroy events."""
    host.run(["docker", "run", "-d", "--name", name, "local/busybox:lab", "sleep", "300"])
    host.run(["docker", "rm", "-f", name])


def _stored(node) -> list[tuple[int, str, str]]:
    """(seq, container name, action) of the node's stored Docker events, by sequence."""
    rows = DockerEvent.objects.filter(node=node, seq__isnull=False).order_by("seq")
    return [
        (seq, attrs.get("name", ""), action)
        for seq, attrs, action in rows.values_list("seq", "attributes", "action")
    ]


def _all_stored(node, names: list[str]) -> list[int]:
    """The stored sequence, once each of `names` has its destroy event (else an empty list)."""
    rows = _stored(node)
    destroyed = {name for _, name, action in rows if action == "destroy"}
    return [seq for seq, _, _ in rows] if set(names) <= destroyed else []


def _unreachable_flips(node, since: float) -> list[dict]:
    rows = DockerEvent.objects.filter(node=node, type="node", received__gte=_at(since))
    return [r.attributes for r in rows.order_by("pk") if r.attributes.get("state") == "Unreachable"]


def _at(epoch: float):
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, UTC)


def _api_node(cp, auth: str, node) -> dict:
    response = requests.get(
        f"{cp.url}/api/infra/v1/acme/node/{node.uuid}/", headers={"Authorization": auth}, timeout=10
    )
    assert response.status_code == 200, response.text
    return response.json()


def _restart_web(cp, meanwhile) -> float:
    """SIGKILL the web process alone (worker and beat go on), run `meanwhile()`, start another;
    the seconds from the kill until the new one answers /healthz."""
    web = cp.processes[0]
    web.kill()
    web.wait()
    killed = time.monotonic()
    meanwhile()
    with open(cp.log, "ab") as out:
        cp.processes[0] = subprocess.Popen(
            cp.commands[0], cwd=ROOT, env=cp.env, stdout=out, stderr=subprocess.STDOUT
        )
    wait_for(cp._healthy, timeout=60, message="the new web process's /healthz")
    return time.monotonic() - killed


def test_a_node_rides_out_a_worker_crash_a_redis_restart_a_network_cut_and_a_web_restart(
    control_plane, lab_hosts, private_redis
):
    cp = control_plane
    org, auth = _org_with_key()
    host = lab_hosts(1)[0]
    _install(host, _install_command(cp, auth, org.name))
    node = _deployed(org, "direct", host=host)
    _worker_killed_mid_upgrade(cp, auth, host, node)
    client = docker_client(node)
    try:
        import_busybox(client)
    finally:
        client.close()
    group_key = f"dc:group:agent.{node.uuid}"
    layer = redis.Redis.from_url(private_redis.url)
    wait_for(lambda: layer.exists(group_key), timeout=5, message="the agent socket's group")
    names = ["before-redis"]
    _churn(host, names[-1])
    connections = _agent_connections(host)

    # 1. Redis restarted under the connected agent, containers coming and going meanwhile.
    began = time.time()
    private_redis.stop()
    stopped = time.monotonic()
    names.append("redis-down")
    _churn(host, names[-1])
    time.sleep(max(0.0, REDIS_DOWN - (time.monotonic() - stopped)))  # the outage, by design
    private_redis.start()
    back = time.monotonic()
    redis_down = back - stopped
    wait_for(lambda: layer.exists(group_key), timeout=REJOIN, interval=0.05,
             message="the agent's socket in its group again")  # fmt: skip
    rejoined = time.monotonic() - back
    names.append("redis-back")
    _churn(host, names[-1])
    seqs = wait_for(lambda: _all_stored(node, names), timeout=10, message="every event stored")
    assert seqs == list(range(1, len(seqs) + 1)), seqs
    # The agent's socket stayed open: the restarted Redis's group is the same socket's.
    assert _agent_connections(host) == connections
    # No false Unreachable: a whole grace period after Redis came back, none.
    time.sleep(3 * HEARTBEAT)  # the grace the sweep would need to flip it, by design
    assert _unreachable_flips(node, began) == []
    assert Node.objects.get(pk=node.pk).state == "Deployed"
    print(
        f"Redis down {redis_down:.1f} s: socket kept, in its group again {rejoined:.2f} s "
        f"after Redis was back; {len(seqs)} events, none lost"
    )

    # 2. The node's network cut, past three heartbeats.
    cut_rules = [
        ["INPUT", "-s", net.GATEWAY, "-j", "DROP"],
        ["OUTPUT", "-d", net.GATEWAY, "-j", "DROP"],
    ]
    cut = time.monotonic()
    cut_at = time.time()
    for rule in cut_rules:
        host.run(["iptables", "-w", "-I", *rule])
    names.append("cut")
    _churn(host, names[-1])
    wait_for(
        lambda: Node.objects.get(pk=node.pk).state == "Unreachable",
        timeout=UNREACHABLE_WITHIN,
        interval=0.1,
        message="the node to turn Unreachable",
    )
    unreachable = time.monotonic() - cut
    reason = _api_node(cp, auth, node)["unreachable_reason"]
    assert reason.startswith("no heartbeat for ") and ", last seen at " in reason, reason
    flips = _unreachable_flips(node, cut_at)
    assert len(flips) == 1 and flips[0]["reason"] == reason
    time.sleep(max(0.0, CUT - (time.monotonic() - cut)))  # the cut's length, by design
    for rule in cut_rules:
        host.run(["iptables", "-w", "-D", *rule])
    restored = time.monotonic()
    wait_for(lambda: Node.objects.get(pk=node.pk).state == "Deployed", timeout=30,
             interval=0.1, message="the node Deployed again")  # fmt: skip
    redeployed = time.monotonic() - restored
    shown = _api_node(cp, auth, node)
    assert shown["state"] == "Deployed" and shown["unreachable_reason"] is None
    back_event = DockerEvent.objects.filter(node=node, type="node").latest("pk").attributes
    assert back_event["state"] == "Deployed" and "reason" not in back_event
    names.append("after-cut")
    _churn(host, names[-1])
    seqs = wait_for(lambda: _all_stored(node, names), timeout=20, message="every event stored")
    assert seqs == list(range(1, len(seqs) + 1)), seqs
    print(
        f"network cut {CUT} s: Unreachable after {unreachable:.1f} s ({reason!r}); "
        f"Deployed {redeployed:.1f} s after the network was back; {len(seqs)} events"
    )

    # 3. The web process holding the agent's socket killed and started again: the agent, whose
    # connection was healthy, comes back at once; what happened meanwhile is replayed.
    connections = _agent_connections(host)
    names.append("web-down")
    killed_at = time.time()
    down_for = _restart_web(cp, lambda: _churn(host, names[-1]))
    healthy = time.monotonic()
    # Its retries, at once then 1, 2, 4, 5, 5 ... s apart, were refused while the web was down:
    # the next one comes within 5 s (+ a quarter of jitter) of the web answering.
    wait_for(lambda: _agent_connections(host) > connections, timeout=RECONNECT,
             interval=0.05, message="the agent connected to the new web process")  # fmt: skip
    reconnected = time.monotonic() - healthy
    seqs = wait_for(lambda: _all_stored(node, names), timeout=20, message="every event stored")
    assert seqs == list(range(1, len(seqs) + 1)), seqs
    wait_for(lambda: Node.objects.get(pk=node.pk).state == "Deployed", timeout=20,
             message="the node Deployed")  # fmt: skip
    # Longer than three heartbeats, a web restart is missed heartbeats: Unreachable (saying so)
    # until the agent is back, as it should be.
    flips = _unreachable_flips(node, killed_at)
    assert all(f["reason"].startswith("no heartbeat for ") for f in flips), flips
    print(
        f"web restarted in {down_for:.1f} s: the agent back {reconnected:.2f} s after it "
        f"answered, {len(flips)} Unreachable flip(s); {len(seqs)} events, none lost"
    )
