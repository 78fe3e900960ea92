"""Who sees a node's page in a real browser: another organization gets 404, a removed member's
page stops receiving, and logging out closes the session's live sockets in every tab."""

import re

import pytest

from nodes.transitions import liveness
from tests.conftest import PASSWORD
from tests.events.conftest import register_node

from .conftest import LIVE, expect

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_another_organizations_user_gets_404_for_the_node_page(portal, owner, outsider):
    node, _ = register_node(owner)
    tab = portal.login("carol")
    # Not a member of acme; acme's node under carol's own organization; a node that never was:
    # all answer the same.
    for path in (
        f"/orgs/acme/nodes/{node.uuid}/",
        "/orgs/acme/nodes/",
        f"/orgs/globex/nodes/{node.uuid}/",
        "/orgs/globex/nodes/00000000-0000-4000-8000-000000000000/",
    ):
        response = tab.open(path, live=False)
        assert response.status == 404, path
        expect(tab.page.get_by_text("web-1")).to_have_count(0)
    assert not tab.sockets  # a 404 page opens no live socket


def test_a_removed_members_page_stops_receiving(portal, owner, readonly_member):
    node, _ = register_node(owner)
    bob = portal.login("bob")
    bob.open(f"/orgs/acme/nodes/{node.uuid}/")
    alice = portal.login("alice")
    alice_node = portal.tab(alice.page.context)
    alice_node.open(f"/orgs/acme/nodes/{node.uuid}/")

    # Alice removes bob on the members page, as an admin does.
    alice.open("/orgs/acme/members/", live=False)
    alice.page.once("dialog", lambda dialog: dialog.accept())
    row = alice.page.get_by_role("row").filter(has_text="bob@example.com")
    row.get_by_role("button", name="Remove").click()
    expect(alice.page.get_by_text("Removed bob.")).to_be_visible()

    expect(bob.status()).to_have_text("access removed", timeout=LIVE)
    bob.wait_closed(bob.socket)
    liveness.node_set_reached(node_id=node.pk, connection="direct")
    badge = f'[data-node-state="{node.uuid}"]'
    expect(alice_node.page.locator(badge)).to_have_text("Deployed", timeout=LIVE)
    # Sent to both pages at once: by now bob's would have it, had it a socket.
    expect(bob.page.locator(badge)).to_have_text("Deploying")
    assert len(bob.sockets) == 1  # and it did not reconnect
    assert bob.page.reload().status == 404


def test_logging_out_closes_the_live_socket_of_every_tab_of_that_session(portal, owner):
    node, _ = register_node(owner)
    path = f"/orgs/acme/nodes/{node.uuid}/"
    page = portal.login("alice")
    page.open(path)
    other_tab = portal.tab(page.page.context)  # same browser, same session
    other_tab.open("/", live=False)
    other_browser = portal.login("alice")  # another session of hers
    other_browser.open(path)

    other_tab.page.get_by_role("button", name="Log out").click()
    expect(other_tab.page.get_by_role("heading", name="Log in")).to_be_visible()

    expect(page.status()).to_have_text("signed out", timeout=LIVE)
    page.wait_closed(page.sockets[0])
    liveness.node_set_reached(node_id=node.pk, connection="direct")
    badge = f'[data-node-state="{node.uuid}"]'
    expect(other_browser.page.locator(badge)).to_have_text("Deployed", timeout=LIVE)
    expect(page.page.locator(badge)).to_have_text("Deploying")
    assert len(page.sockets) == 1  # it did not try again with a dead session
    page.page.reload()
    expect(page.page).to_have_url(re.compile(r"/login/\?next="))


NEW = "a brand new passphrase 991"


def test_changing_the_password_closes_the_live_page_another_browser_has_open(portal, owner):
    """Alice suspects someone logged in as her: changing her password stops the live page in
    that other browser at once (not at its next request) and it does not reconnect."""
    node, _ = register_node(owner)
    path = f"/orgs/acme/nodes/{node.uuid}/"
    intruder = portal.login("alice")
    intruder.open(path)
    alice = portal.login("alice")

    alice.open("/password/change/", live=False)
    form = {"old_password": PASSWORD, "new_password1": NEW, "new_password2": NEW}
    for name, value in form.items():
        alice.page.locator(f'input[name="{name}"]').fill(value)
    alice.page.get_by_role("button", name="Change password").click()
    expect(alice.page.get_by_role("heading", name="Password changed")).to_be_visible()

    expect(intruder.status()).to_have_text("signed out", timeout=LIVE)
    intruder.wait_closed(intruder.sockets[0])
    assert len(intruder.sockets) == 1  # it did not try again
    intruder.page.reload()
    expect(intruder.page).to_have_url(re.compile(r"/login/\?next="))
