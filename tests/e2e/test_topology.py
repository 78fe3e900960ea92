"""The production topology on one machine: two web processes behind a TCP proxy, two Celery
workers and beat, on PostgreSQL and Redis, started with the commands the README gives
(`manage.py serve`, `make worker`, `make beat`), and a real lab node whose 2375 is firewalled.

Its agent reaches the control plane through the proxy (DC_PUBLIC_URL), which sends every
connection to web A while A lives. A browser is on web B. The story: a worker's probe, this
process's docker calls (an image upload, a run, followed logs), web B's portal and a worker's
health check all reach the daemon through the tunnel held by web A; beat's image check is a
command a worker sends over the agent channel; the browser on B sees the node's events; then
web A is killed (SIGKILL, by its pid) and the agent moves to web B through the proxy, with
every event of the node stored once and in order, and the workers reach it there.
"""

import contextlib
import os
import signal
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from channels.layers import channel_layers

from lab import net
from lab.control_plane import ALL_INTERFACES
from lab.control_plane import free_port as _free_port
from maintenance.models import NodeMaintenance
from nodes.docker_client import docker_client
from nodes.models import Action, DockerEvent, Node
from tests.webproc import VENV, Server, production_env, serve

from .conftest import use_server_layers, wait_for
from .test_byoh import (
    _containers_page,
    _deployed,
    _install,
    _install_command,
    _org_with_key,
    _run_echo,
)
from .test_events import _at, _browser, _container_event, _daemon_events, _node_seqs, _session

pytestmark = [pytest.mark.lab, pytest.mark.slow]
PROXY = Path(__file__).with_name("tcpproxy.py")


def _make(target: str, *args: str) -> list[str]:
    """`make TARGET` as the README gives it, with this interpreter's environment as the
    Makefile's .venv (its requirements are installed: the stamp is not remade)."""
    runtime = VENV / ".runtime"
    return ["make", "--no-print-directory", "-o", str(runtime), target, f"VENV={VENV}", *args]


def _routes(proxy: Server) -> list[str]:
    """The backend of each connection the proxy took, in order."""
    lines = proxy.output().splitlines()
    return [line.split(" -> ")[1] for line in lines if " -> " in line]


def _health_check(web: Server, auth: str, node: Node) -> Action:
    import requests

    response = requests.post(
        f"{web.url}/api/infra/v1/{node.organization.name}/node/{node.uuid}/health-check/",
        headers={"Authorization": auth},
        timeout=10,
    )
    assert response.status_code == 202, response.text
    uuid = response.headers["X-DockerCloud-Action-URI"].rstrip("/").rsplit("/", 1)[1]
    return wait_for(
        lambda: Action.objects.filter(uuid=uuid, state__in=("Success", "Failed")).first(),
        timeout=30,
        message="a worker to run the health check",
    )


def _follow_logs_through_the_tunnel(node: Node) -> None:
    client = docker_client(node)
    try:
        container = client.containers.run(
            "local/busybox:lab",
            ["sh", "-c", "for i in 1 2 3; do echo line$i; sleep 0.3; done"],
            name="tunnel-logs",
            detach=True,
        )
        lines: list[str] = []
        for chunk in container.logs(stream=True, follow=True):
            lines += chunk.decode().split()
            if len(lines) >= 3:
                break
        assert lines == ["line1", "line2", "line3"]
        container.wait(timeout=10)
    finally:
        client.close()


def _images_checked_after(node: Node, moment: float):
    def checked():
        row = NodeMaintenance.objects.filter(node=node).first()
        at = row and row.images_checked_at
        return at if at and at.timestamp() > moment else None

    return checked


def test_two_webs_two_workers_and_beat_share_a_node_and_survive_losing_a_web(
    transactional_db, settings, lab_hosts, tmp_path
):
    began = time.monotonic()
    proxy_port = _free_port()
    env = production_env(
        tmp_path,
        DC_PUBLIC_URL=f"http://{net.GATEWAY}:{proxy_port}",
        DC_BIND_HOST=ALL_INTERFACES,
        DC_HEARTBEAT_INTERVAL="2",
        DC_SWEEP_INTERVAL="1",
        DC_MAINTENANCE_INTERVAL="1",
    )
    web_a = serve(env, tmp_path / "web-a.log", "--host", ALL_INTERFACES)
    web_b = serve(env, tmp_path / "web-b.log", "--host", ALL_INTERFACES)
    backends = [f"127.0.0.1:{web.port}" for web in (web_a, web_b)]
    proxy_command = [sys.executable, str(PROXY), ALL_INTERFACES, str(proxy_port), *backends]
    proxy = Server(proxy_command, env, tmp_path / "proxy.log", proxy_port)
    workers = [
        Server(_make("worker", f"WORKER_NAME=topology-{n}@%h"), env, tmp_path / f"w{n}.log", 0)
        for n in (1, 2)
    ]
    beat = Server(_make("beat"), env, tmp_path / "beat.log", 0)
    everything = [proxy, web_a, web_b, *workers, beat]
    use_server_layers(settings, env["REDIS_URL"])
    try:
        for process in everything:
            process.start(healthy=False)
        host = lab_hosts(1, firewall_2375=True)[0]  # boots while the processes start
        for web in (web_a, web_b):
            web.wait_healthy()
        started = time.monotonic() - began
        _story(host, proxy, web_a, web_b, [*workers, beat])
        print(f"processes up in {started:.1f} s; the whole story {time.monotonic() - began:.1f} s")
    finally:
        channel_layers.backends.clear()
        # Workers and beat have nothing to flush (tasks are acknowledged late): killed at once.
        for process in [*workers, beat]:
            if process.process is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.process.pid, signal.SIGKILL)
        threads = [threading.Thread(target=p.stop) for p in everything]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for process in everything:
            print(f"---- {process.log.name} (last 25 lines) ----")
            print("\n".join(process.output().splitlines()[-25:]))


def _alive(processes: list[Server]) -> None:
    for process in processes:
        code = process.process.poll()
        assert code is None, f"{process.command} exited {code}:\n{process.output()[-3000:]}"


def _story(host, proxy: Server, web_a: Server, web_b: Server, background: list[Server]) -> None:
    org, auth = _org_with_key()
    cp = SimpleNamespace(url=web_b.url, public_url=f"http://{net.GATEWAY}:{proxy.port}")
    _install(host, _install_command(cp, auth, org.name))
    # A worker's probe found 2375 closed and reached the daemon through the agent's tunnel.
    node = _deployed(org, "tunnel", timeout=30, host=host)
    deployed = time.time()
    assert set(_routes(proxy)) == {f"127.0.0.1:{web_a.port}"}  # install, register, channel
    _alive(background)

    # This process's docker calls take the tunnel too: an image upload, a run, followed logs.
    assert _run_echo(node) == b"hello from the node\n"
    _follow_logs_through_the_tunnel(node)
    # Web B's portal asks the daemon through web A's tunnel.
    portal = _containers_page(cp, org, node)
    assert "through the agent's tunnel" in portal and "tunnel-logs" in portal
    assert "exited" in portal

    # A browser logged in on web B follows the node.
    page = _browser(
        web_b,
        _session(web_b, f"{org.name}-op"),
        {"org": org.name, "node": str(node.uuid), "recent": 0},
    )
    window = time.time()
    host.run(["docker", "run", "--rm", "--name", "before", "local/busybox:lab", "true"])
    page.wait(
        lambda f: f["type"] == "events"
        and any(_container_event("before", "destroy")(e) for e in f["events"]),
        timeout=10,
        what="the browser on web B to see the node's events from web A",
    )

    # Beat's image check: a worker sends `cleanup_images` over the channel web A holds.
    wait_for(_images_checked_after(node, deployed), timeout=20, message="beat's image check")
    # A user's health check through web B: a worker's docker call through web A's tunnel.
    check = _health_check(web_b, auth, node)
    assert check.state == "Success", check.logs
    assert "answered (tunnel)" in check.logs

    # Web A dies. The agent's channel breaks; the proxy sends it to web B.
    agent_log = host.state_path("var-log") / "dockercloud" / "agent.log"
    connected_before = agent_log.read_text().count("control channel connected")
    os.kill(web_a.process.pid, signal.SIGKILL)
    killed = time.monotonic()
    for n in range(3):  # events made while the agent has no channel
        host.run(["docker", "run", "--rm", "--name", f"during-{n}", "local/busybox:lab", "true"])
    wait_for(
        lambda: agent_log.read_text().count("control channel connected") > connected_before,
        timeout=20,
        interval=0.05,
        message="the agent to reconnect",
    )
    moved = time.monotonic() - killed
    assert _routes(proxy)[-1] == f"127.0.0.1:{web_b.port}"
    host.run(["docker", "run", "--rm", "--name", "after", "local/busybox:lab", "true"])
    wait_for(
        lambda: DockerEvent.objects.filter(
            node=node, action="destroy", attributes__name="after"
        ).exists(),
        timeout=20,
        message="the events after the move",
    )
    finished = time.time()

    # No event lost or repeated: the agent's sequence is whole and matches the daemon's record.
    seqs = _node_seqs(node)
    assert seqs == list(range(1, len(seqs) + 1)), "a sequence number is missing or repeated"
    assert not DockerEvent.objects.filter(node=node, type="gap").exists()
    rows = DockerEvent.objects.filter(node=node, time__gte=_at(window)).exclude(seq=None)
    assert [(r.type, r.action, r.actor_id) for r in rows.order_by("seq")] == _daemon_events(
        host, window, finished + 1
    )
    starts = rows.filter(type="container", action="start").order_by("seq")
    names = [r.attributes.get("name") for r in starts]
    assert names == ["before", "during-0", "during-1", "during-2", "after"]
    # The browser on B got each of them once, those made while A was dying included.
    first = rows.order_by("seq").first().seq
    wait_for(
        lambda: seqs[-1] in {e["seq"] for e in page.events()},
        timeout=5,
        message="the browser to get the last event",
    )
    got = [e["seq"] for e in page.events() if e["seq"] is not None and e["seq"] >= first]
    assert got == list(range(first, seqs[-1] + 1))
    page.close()

    # The workers reach the agent on web B: beat's command and a tunnelled docker call.
    reconnected = time.time()
    wait_for(_images_checked_after(node, reconnected), timeout=20, message="an image check on B")
    check = _health_check(web_b, auth, node)
    assert check.state == "Success", check.logs
    assert Node.objects.get(pk=node.pk).state == "Deployed"
    _alive(background)
    *workers, _ = background
    assert all("] succeeded in" in worker.output() for worker in workers)  # both took work
    for web in (web_a, web_b):  # no socket or request failed on either web process
        assert "Exception in ASGI application" not in web.output()
    print(f"agent on web B {moved:.2f} s after web A was killed; {len(seqs)} events, none lost")
