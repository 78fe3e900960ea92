"""A node cluster made from the portal, in a real browser, on real lab hosts: the page follows
it from Deploying to Deployed without a reload, and terminating it destroys its host."""

import pytest

import lab
from nodes.models import Node, NodeCluster
from providers.drivers.local import LocalDriver
from tests.e2e.conftest import wait_for

from .conftest import LIVE, expect

pytestmark = [pytest.mark.browser, pytest.mark.lab, pytest.mark.slow]
DEPLOY = 90_000  # ms: a lab host boots, installs the agent and its daemon is reached over TLS


@pytest.fixture
def lab_leftovers():
    """Hosts the control plane made through the local provider: never leave one behind."""
    yield
    made = {LocalDriver.host_name(uuid) for uuid in Node.objects.values_list("uuid", flat=True)}
    leftovers = [h.name for h in lab.list_hosts() if h.name in made]
    if leftovers:
        lab.down(leftovers)


def test_a_cluster_created_in_the_portal_deploys_live_and_terminates(portal, owner, lab_leftovers):
    tab = portal.login("alice")
    page = tab.page
    tab.open("/orgs/acme/clusters/", live=False)
    page.get_by_label("Name").fill("web")
    page.get_by_label("Region").select_option(label="Local lab: This machine")
    page.get_by_label("Node type").select_option(label="Local lab: Lab host (network namespace)")
    page.get_by_label("Nodes").fill("1")
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_text("Deploying web.")).to_be_visible()
    cluster = NodeCluster.objects.get(name="web")
    expect(tab.status()).to_be_attached()  # the live script is on the page
    page.evaluate("window.dcTestNoReload = true")

    badge = page.locator(f'[data-nodecluster-state="{cluster.uuid}"]')
    expect(badge).to_have_text("Deployed", timeout=DEPLOY)
    assert page.evaluate("window.dcTestNoReload === true")  # live, not reloaded
    node = Node.objects.get(node_cluster=cluster)
    assert node.state == "Deployed" and node.connection == "direct"
    assert node.provider_host_id in {h.name for h in lab.list_hosts()}

    page.reload()  # the node is listed once it exists
    expect(page.get_by_role("link", name=node.nickname)).to_be_visible()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Terminate web").click()
    expect(page.get_by_text("Terminating web and its nodes.")).to_be_visible()
    expect(page.locator(f'[data-nodecluster-state="{cluster.uuid}"]')).to_have_text(
        "Terminated", timeout=LIVE * 3
    )
    wait_for(
        lambda: node.provider_host_id not in {h.name for h in lab.list_hosts()},
        timeout=30,
        message="the node's lab host to be destroyed",
    )
