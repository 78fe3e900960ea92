"""One organization menu with search; the current organization always shown, the last one
used remembered; usable by keyboard."""

import pytest

from .conftest import expect

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_the_menu_finds_an_organization_and_remembers_the_last_one(portal, owner):
    tab = portal.login("alice")  # member of acme and of her personal organization, alice
    menu = tab.page.locator("details.switcher")
    tab.open("/orgs/acme/nodes/", live=False)
    expect(menu.locator("summary")).to_have_text("acme")

    menu.locator("summary").click()
    items = menu.locator("#org-menu li")
    expect(items).to_have_count(2)
    menu.get_by_placeholder("Find an organization").fill("ac")
    expect(menu.locator("#org-menu li:not([hidden])")).to_have_text(["acme"])
    menu.get_by_role("link", name="acme").click()
    tab.page.wait_for_url("**/orgs/acme/")

    tab.open("/", live=False)  # no organization in the address: the last one used
    expect(tab.page.locator("details.switcher summary")).to_have_text("acme")

    # By keyboard: Tab from the brand reaches the menu, Enter opens it with the cursor in its
    # search box, Escape closes it and gives focus back.
    summary = menu.locator("summary")
    tab.page.locator("header .brand").focus()
    tab.page.keyboard.press("Tab")
    expect(summary).to_be_focused()
    tab.page.keyboard.press("Enter")
    expect(menu.get_by_placeholder("Find an organization")).to_be_focused()
    tab.page.keyboard.type("ali")
    expect(menu.locator("#org-menu li:not([hidden])")).to_have_text(["alice"])
    tab.page.keyboard.press("Escape")
    expect(menu).not_to_have_attribute("open", "")
    expect(summary).to_be_focused()
