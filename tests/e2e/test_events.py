"""Live Docker events end to end: a real agent on a lab host, the live control plane, and real
websocket clients (a logged-in browser session and a Docker Cloud API stream client)."""

import base64
import json
import threading
import time

import pytest
import requests
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from accounts import services
from accounts.audit import Actor
from lab import import_busybox
from nodes.docker_client import docker_client
from nodes.models import DockerEvent, Node
from tests.conftest import PASSWORD

from .conftest import wait_for

pytestmark = [pytest.mark.lab, pytest.mark.slow]
LATENCY = 1.0  # seconds from the daemon's event to a browser or API stream client


# --- helpers (the org/install ones as in test_byoh.py) ----------------------------------------
def _org_with_key(name: str):
    user = services.user_signup(username=f"{name}-op", email=f"op@{name}.test", password=PASSWORD)
    org = services.organization_create(actor=Actor(user=user), name=name)
    _, key = services.apikey_create(actor=Actor(user=user), user=user, label="e2e")
    auth = "Basic " + base64.b64encode(f"{user.username}:{key}".encode()).decode()
    return org, user, auth


def _install(cp, host, auth: str, ns: str) -> None:
    response = requests.post(
        f"{cp.url}/api/infra/v1/{ns}/token/", headers={"Authorization": auth}, timeout=10
    )
    assert response.status_code == 201, response.text
    command = response.json()["command"]
    result = host.run(["sh", "-c", command], check=False, timeout=120)
    assert result.returncode == 0, f"install failed:\n{result.stdout}\n{result.stderr}"


def _deployed(org, host) -> Node:
    def ready():
        node = Node.objects.filter(organization=org).first()
        return node if node and node.state == "Deployed" else None

    def seen():
        log = host.run("tail -n 30 /var/log/dockercloud/agent.log", check=False).stdout
        return f"nodes: {list(Node.objects.values_list('state', flat=True))}; agent log:\n{log}"

    return wait_for(ready, timeout=30, message="the node to become Deployed", seen=seen)


def _session(cp, username: str) -> str:
    """Log in through the portal's form, as a browser does; return the session cookie."""
    browser = requests.Session()
    browser.get(f"{cp.url}/login/", timeout=10)
    response = browser.post(
        f"{cp.url}/login/",
        data={
            "username": username,
            "password": PASSWORD,
            "csrfmiddlewaretoken": browser.cookies["csrftoken"],
        },
        headers={"Referer": f"{cp.url}/login/"},
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 302, response.text[:500]
    return browser.cookies["sessionid"]


class Client:
    """A websocket client reading in a thread: every JSON frame with its arrival time."""

    def __init__(self, url: str, headers: dict, subscribe: dict | None = None):
        self.ws = connect(url, additional_headers=headers, open_timeout=10)
        self.frames: list[tuple[float, dict]] = []
        self.closed = threading.Event()
        self.close_code = None
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        if subscribe:
            self.ws.send(json.dumps({"type": "subscribe", **subscribe}))

    def _read(self) -> None:
        try:
            for message in self.ws:
                self.frames.append((time.time(), json.loads(message)))
        except ConnectionClosed:
            pass
        self.close_code = self.ws.close_code
        self.closed.set()

    def wait(self, predicate, *, timeout: float, what: str) -> tuple[float, dict]:
        def found():
            return next(((t, f) for t, f in list(self.frames) if predicate(f)), None)

        return wait_for(found, timeout=timeout, interval=0.05, message=what)

    def events(self) -> list[dict]:
        return [e for _, f in list(self.frames) if f["type"] == "events" for e in f["events"]]

    def close(self) -> None:
        self.ws.close()
        self._thread.join(timeout=5)


def _browser(cp, cookie: str, subscribe: dict) -> Client:
    ws = cp.url.replace("http://", "ws://")
    headers = {"Cookie": f"sessionid={cookie}", "Origin": cp.url}
    client = Client(f"{ws}/ws/events/", headers, subscribe)
    client.wait(lambda f: f["type"] in ("subscribed", "error"), timeout=5, what="subscribed")
    return client


def _stream(cp, auth: str, path: str) -> Client:
    return Client(cp.url.replace("http://", "ws://") + path, {"Authorization": auth})


def _container_event(name: str, action: str):
    def match(event: dict) -> bool:
        attrs = event["attributes"]
        return (
            event["type"] == "container" and event["action"] == action and attrs.get("name") == name
        )

    return match


def _event_time(event: dict) -> float:
    from datetime import datetime

    return datetime.fromisoformat(event["time"].replace("Z", "+00:00")).timestamp()


# --- tests -------------------------------------------------------------------------------
def test_container_events_reach_browsers_and_the_api_stream_within_a_second(
    control_plane, lab_hosts
):
    cp = control_plane
    org, owner, auth = _org_with_key("acme")
    _, outsider, outsider_auth = _org_with_key("globex")
    member = services.user_signup(username="mallory", email="m@acme.test", password=PASSWORD)
    services.membership_add(actor=Actor(user=owner), organization=org, username="mallory")
    host = lab_hosts(1)[0]
    _install(cp, host, auth, org.name)
    node = _deployed(org, host)

    owner_cookie = _session(cp, owner.username)
    page = _browser(cp, owner_cookie, {"org": "acme", "node": str(node.uuid), "recent": 0})
    fleet = _browser(cp, owner_cookie, {"org": "acme", "recent": 0})
    stream = _stream(cp, auth, "/api/audit/v1/acme/events")
    stranger_cookie = _session(cp, outsider.username)
    prying = _browser(cp, stranger_cookie, {"org": "acme"})
    assert prying.frames[-1][1]["type"] == "error"  # not a member: "not found"
    stranger = _browser(cp, stranger_cookie, {"org": "globex"})
    stranger_stream = _stream(cp, outsider_auth, "/api/audit/v1/globex/events/")
    removed = _browser(cp, _session(cp, member.username), {"org": "acme"})
    with pytest.raises(InvalidStatus) as refused:
        connect(cp.url.replace("http://", "ws://") + "/api/audit/v1/events", open_timeout=10)
    assert refused.value.response.status_code == 401

    client = docker_client(node)
    try:
        import_busybox(client)
    finally:
        client.close()
    host.run(["docker", "run", "-d", "--name", "ev-1", "local/busybox:lab", "sleep", "300"])
    host.run(["docker", "stop", "-t", "1", "ev-1"])

    latencies = []
    for browser in (page, fleet):
        for action in ("start", "die"):
            arrived, frame = browser.wait(
                lambda f, a=action: f["type"] == "events"
                and any(_container_event("ev-1", a)(e) for e in f["events"]),
                timeout=5,
                what=f"the browser to get ev-1 {action}",
            )
            event = next(e for e in frame["events"] if _container_event("ev-1", action)(e))
            latencies.append(arrived - _event_time(event))
    for state in ("Running", "Stopped"):
        arrived, frame = stream.wait(
            lambda f, s=state: f["type"] == "container" and f["state"] == s,
            timeout=5,
            what=f"the API stream to get the container {state}",
        )
        row = DockerEvent.objects.get(uuid=frame["uuid"])
        assert frame["resource_uri"] == f"/api/app/v1/acme/container/{row.actor_id}/"
        assert frame["parents"] == [f"/api/infra/v1/acme/node/{node.uuid}/"]
        latencies.append(arrived - row.time.timestamp())
    print(f"event latencies (s): {[round(x, 3) for x in latencies]}")
    assert max(latencies) < LATENCY

    # Each event once per browser; nothing of acme to the other organization.
    ids = [e["id"] for e in page.events()]
    assert len(ids) == len(set(ids))
    assert not stranger.events() and not prying.events()
    assert not [f for _, f in stranger_stream.frames]

    # Removing a member closes their socket.
    response = requests.delete(
        f"{cp.url}/api/v1/orgs/acme/members/mallory/", headers={"Authorization": auth}, timeout=10
    )
    assert response.status_code == 204, response.text
    assert removed.closed.wait(2), "the removed member's socket stayed open"
    assert removed.close_code == 4403
    for socket in (page, fleet, stream, prying, stranger, stranger_stream):
        socket.close()


def _node_seqs(node) -> list[int]:
    rows = DockerEvent.objects.filter(node=node).exclude(seq=None).order_by("seq")
    return list(rows.values_list("seq", flat=True))


def _daemon_events(host, since: float, until: float) -> list[tuple[str, str, str]]:
    """The daemon's own record of its events in a window: the truth to compare with."""
    result = host.run(
        ["docker", "events", "--since", f"{since:.6f}", "--until", f"{until:.6f}",
         "--format", "{{json .}}"],
        timeout=30,
    )  # fmt: skip
    events = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    return [(e["Type"], e["Action"], e["Actor"]["ID"]) for e in events]


def test_events_made_while_the_link_is_cut_arrive_once_and_in_order(control_plane, lab_hosts):
    cp = control_plane
    org, owner, auth = _org_with_key("acme")
    host = lab_hosts(1)[0]
    _install(cp, host, auth, org.name)
    node = _deployed(org, host)
    client = docker_client(node)
    try:
        import_busybox(client)
    finally:
        client.close()
    page = _browser(cp, _session(cp, owner.username), {"org": "acme", "node": str(node.uuid)})
    started = time.time()
    host.run(["docker", "run", "--rm", "--name", "before", "local/busybox:lab", "true"])
    wait_for(
        lambda: DockerEvent.objects.filter(node=node, action="destroy").exists(),
        timeout=5,
        message="the first container's events",
    )

    port = cp.url.rsplit(":", 1)[1]
    cut = ["OUTPUT", "-p", "tcp", "--dport", port, "-j", "REJECT", "--reject-with", "tcp-reset"]
    host.run(["iptables", "-w", "-I", *cut])
    try:
        for n in range(5):
            host.run(["docker", "run", "--rm", "--name", f"cut-{n}", "local/busybox:lab", "true"])
        time.sleep(0.5)  # a bounded look: none of them may reach the database while cut off
        during = DockerEvent.objects.filter(node=node, attributes__name__startswith="cut-")
        assert not during.exists(), "events crossed a cut link"
        agent_log = host.run("tail -n 20 /var/log/dockercloud/agent.log", check=False).stdout
        wait_for(
            lambda: "control channel lost"
            in host.run("cat /var/log/dockercloud/agent.log", check=False).stdout,
            timeout=10,
            message=f"the agent to lose its channel; log:\n{agent_log}",
        )
        held = time.monotonic()
        while time.monotonic() - held < 3:  # while cut: retries are refused
            time.sleep(0.2)
    finally:
        host.run(["iptables", "-w", "-D", *cut])
    host.run(["docker", "run", "--rm", "--name", "after", "local/busybox:lab", "true"])
    wait_for(
        lambda: DockerEvent.objects.filter(
            node=node, action="destroy", attributes__name="after"
        ).exists(),
        timeout=45,
        message="the events after the link came back",
    )
    finished = time.time()

    seqs = _node_seqs(node)
    assert seqs == list(range(1, len(seqs) + 1)), "a sequence number is missing or repeated"
    assert not DockerEvent.objects.filter(node=node, type="gap").exists()
    rows = DockerEvent.objects.filter(node=node, time__gte=_at(started)).exclude(seq=None)
    stored = [(r.type, r.action, r.actor_id) for r in rows.order_by("seq")]
    truth = _daemon_events(host, started, finished + 1)
    assert stored == truth
    starts = rows.filter(type="container", action="start").order_by("seq")
    names = [r.attributes.get("name") for r in starts]
    assert names == ["before", *[f"cut-{n}" for n in range(5)], "after"]
    # The browser stayed connected: it got every event, the replayed ones included, once.
    first = rows.order_by("seq").first().seq
    wait_for(
        lambda: seqs[-1] in {e["seq"] for e in page.events()},
        timeout=5,
        message="the browser to get the last event",
    )
    got = [e["seq"] for e in page.events() if e["seq"] is not None and e["seq"] >= first]
    assert got == list(range(first, seqs[-1] + 1))
    page.close()


def _at(timestamp: float):
    from datetime import UTC, datetime

    return datetime.fromtimestamp(timestamp, tz=UTC)
