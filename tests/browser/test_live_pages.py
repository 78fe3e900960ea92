"""The portal's pages stay current in a real browser: node states and Docker events arrive
without a reload, and a page whose socket dropped catches up, each event once."""

import json
import re
import time

import pytest
from django.utils import timezone
from websockets.sync.client import connect

from nodes.events.services import NodeContext, agent_event_row, agent_events_store
from nodes.models import DockerEvent
from nodes.transitions import liveness
from tests.events.conftest import register_node

from .conftest import LIVE, expect

pytestmark = [pytest.mark.browser, pytest.mark.slow]
ROWS_ARE = """want => JSON.stringify(want) === JSON.stringify(
    [...document.querySelectorAll("[data-live-events] tr[data-id]")].map(r => +r.dataset.id))"""
RECONNECT = 30_000  # ms: live.js retries with backoff (1 s, 2 s, 4 s, ...) while the server is down


def _stay_on_page(tab) -> None:
    """Mark the document: the mark is still there only if the page did not reload."""
    tab.page.evaluate("window.dcTestNoReload = true")


def _not_reloaded(tab) -> bool:
    return tab.page.evaluate("window.dcTestNoReload === true")


def _rows(tab) -> list[int]:
    """The event rows' ids, top to bottom."""
    rows = tab.page.locator("[data-live-events] tr[data-id]")
    return rows.evaluate_all("rows => rows.map(r => +r.dataset.id)")


def _expect_rows(tab, ids: list[int], timeout: int = LIVE) -> None:
    """Wait until the table shows exactly `ids`, newest first."""
    want = sorted(ids, reverse=True)
    tab.page.wait_for_function(ROWS_ARE, arg=want, timeout=timeout)


def _node_event_ids(node) -> list[int]:
    return list(DockerEvent.objects.filter(node=node).values_list("id", flat=True))


def container_event(seq: int, action: str, name: str) -> dict:
    """One item of an agent's `event` message, as the agent reads it from the daemon."""
    return {
        "seq": seq,
        "type": "container",
        "action": action,
        "actor": {"id": f"{seq:064x}", "attributes": {"name": name, "image": "busybox"}},
        "scope": "local",
        "time_nano": time.time_ns(),
    }


class Agent:
    """A node's agent on the wire (/ws/agent/): authenticates, sends events, reads acks."""

    def __init__(self, url: str, node, secret: str):
        ws_url = url.replace("http://", "ws://") + "/ws/agent/"
        headers = {"Authorization": f"Agent {node.uuid}:{secret}"}
        self.ws = connect(ws_url, additional_headers=headers, open_timeout=10)
        assert self._receive()["type"] == "config"
        self.acked = self._receive()["seq"]  # the last seq stored: where an agent resumes

    def _receive(self) -> dict:
        return json.loads(self.ws.recv(timeout=10))

    def send(self, items: list[dict]) -> None:
        """Send a batch and wait until the server acknowledges it (stored)."""
        self.ws.send(json.dumps({"type": "event", "events": items}))
        last = max(item["seq"] for item in items)
        while self.acked < last:
            frame = self._receive()
            if frame["type"] == "ack":
                self.acked = frame["seq"]

    def close(self) -> None:
        self.ws.close()


def test_fleet_page_shows_a_node_state_change_without_a_reload(portal, owner):
    node, _ = register_node(owner)
    tab = portal.login("alice")
    tab.open("/orgs/acme/nodes/")
    badge = tab.page.locator(f'[data-node-state="{node.uuid}"]')
    expect(badge).to_have_text("Deploying")
    _stay_on_page(tab)

    liveness.node_set_reached(node_id=node.pk, connection="direct")  # as the probe does
    expect(badge).to_have_text("Deployed", timeout=LIVE)
    expect(badge).to_have_class(re.compile(r"\bdeployed\b"))
    liveness.node_set_unreachable(node_id=node.pk)  # as the liveness sweep does
    expect(badge).to_have_text("Unreachable", timeout=LIVE)
    expect(badge).to_have_class(re.compile(r"\bunreachable\b"))
    expect(badge).not_to_have_class(re.compile(r"\bdeployed\b"))
    # The fleet's event table got both changes, with the node's name.
    _expect_rows(tab, _node_event_ids(node))
    cells = tab.page.locator("[data-live-events] tr").first.locator("td")
    expect(cells).to_have_text([re.compile(r"^\d{4}-"), "web-1", "node", "update", "Unreachable"])
    assert _not_reloaded(tab)


def test_node_page_shows_docker_events_live_and_catches_up_once_after_its_server_crashed(
    portal, owner, control_plane
):
    cp = control_plane
    node, secret = register_node(owner)
    tab = portal.login("alice")
    tab.open(f"/orgs/acme/nodes/{node.uuid}/")
    _expect_rows(tab, _node_event_ids(node))  # the registration
    _stay_on_page(tab)

    agent = Agent(cp.url, node, secret)
    agent.send([container_event(1, "start", "web-a"), container_event(2, "die", "web-a")])
    _expect_rows(tab, _node_event_ids(node))
    expect(tab.page.locator("[data-live-events] tr").first).to_contain_text("web-a (image=busybox)")

    # The page's server dies (its socket drops); meanwhile another web process stores an
    # agent's events, and a worker deploys the node.
    agent.close()
    cp.crash()
    expect(tab.status()).to_have_text("reconnecting…", timeout=LIVE)
    shown = _rows(tab)
    ctx, now = NodeContext.of(node), timezone.now()
    made = [container_event(3, "start", "web-b"), container_event(4, "die", "web-b")]
    agent_events_store(rows=[agent_event_row(ctx, item, now) for item in made])
    liveness.node_set_reached(node_id=node.pk, connection="direct")
    cp.start()

    expect(tab.status()).to_have_text("live", timeout=RECONNECT)
    _expect_rows(tab, _node_event_ids(node))
    badge = tab.page.locator(f'[data-node-state="{node.uuid}"]')
    expect(badge).to_have_text("Deployed")
    # The catch-up overlaps what the page had (late commits are resent): shown once anyway.
    assert set(shown) & set(tab.received(tab.socket))
    # The agent comes back, replays what it has not seen acknowledged, and goes on.
    agent = Agent(cp.url, node, secret)
    assert agent.acked == 4
    agent.send([container_event(4, "die", "web-b"), container_event(5, "destroy", "web-b")])
    agent.close()
    ids = _node_event_ids(node)
    _expect_rows(tab, ids)
    assert len(tab.sockets) >= 2 and _not_reloaded(tab)


def test_the_node_list_gains_a_row_when_a_host_registers(portal, owner):
    """The list said "No nodes yet" until a reload while the same page's events showed the
    node being created: its rows now follow the node events too, and keep the list's filters
    (a new node that does not match them does not appear)."""
    tab = portal.login("alice")
    tab.open("/orgs/acme/nodes/?q=late")
    expect(tab.page.get_by_text("No nodes match these filters.")).to_be_visible()
    register_node(owner, hostname="early-host")  # first: any refresh after the next has it
    node, _ = register_node(owner, hostname="late-host")
    rows = tab.page.locator('[data-refresh-on-type="node"] tr')  # not the events table's
    row = rows.filter(has_text="late-host")
    expect(row).to_be_visible(timeout=LIVE)
    expect(row.locator(f'[data-node-state="{node.uuid}"]')).to_have_text("Deploying")
    expect(tab.page.get_by_text("No nodes match these filters.")).to_have_count(0)
    expect(rows.filter(has_text="early-host")).to_have_count(0)
