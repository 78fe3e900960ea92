"""A node cluster made from the portal, in a real browser, on real lab hosts: the page follows
it from Deploying to Deployed without a reload, and terminating it destroys its host."""

import pytest
import requests

import lab
from accounts import services as account_services
from accounts.audit import Actor
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
    page.get_by_label("Deploy now").uncheck()
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_text("Created web.")).to_be_visible()
    cluster = NodeCluster.objects.get(name="web")
    expect(page.get_by_text("No nodes: deploy the cluster to create them.")).to_be_visible()
    page.evaluate("window.dcTestNoReload = true")
    page.wait_for_function("document.querySelector('[data-live-status]').textContent === 'live'")

    # Deployed from elsewhere (the API), while the page stays open.
    _, key = account_services.apikey_create(
        actor=Actor(user=owner.user), user=owner.user, label="ops"
    )
    deploy = requests.post(
        f"{portal.url}/api/infra/v1/acme/nodecluster/{cluster.uuid}/deploy/",
        auth=("alice", key),
        timeout=10,
    )
    assert deploy.status_code == 202, deploy.text

    # The node the reconciler made appears in the list, and its state follows, live.
    expect(page.get_by_role("link", name="web-1")).to_be_visible(timeout=LIVE * 2)
    node = Node.objects.get(node_cluster=cluster)
    expect(page.locator(f'[data-node-state="{node.uuid}"]')).to_have_text(
        "Deployed", timeout=DEPLOY
    )
    badge = page.locator(f'[data-nodecluster-state="{cluster.uuid}"]')
    expect(badge).to_have_text("Deployed", timeout=LIVE)
    assert page.evaluate("window.dcTestNoReload === true")  # live, not reloaded
    node.refresh_from_db()
    assert node.state == "Deployed" and node.connection == "direct"
    assert node.provider_host_id in {h.name for h in lab.list_hosts()}

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
