"""At a phone's width (390 px) no portal page is wider than the screen: wide tables scroll
inside themselves instead of pushing the page sideways."""

import pytest

from tests.events.conftest import register_node

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PAGES = [
    "/",
    "/orgs/acme/nodes/",
    "/orgs/acme/nodes/{node}/",
    "/orgs/acme/clusters/",
    "/orgs/acme/containers/",
    "/orgs/acme/maintenance/",
    "/orgs/acme/events/",
    "/orgs/acme/members/",
    "/orgs/acme/audit/",
    "/settings/apikeys/",
]


def test_no_page_is_wider_than_a_phone(portal, owner):
    node, _ = register_node(owner)
    tab = portal.login("alice")
    tab.page.set_viewport_size({"width": 390, "height": 844})
    for path in PAGES:
        response = tab.open(path.format(node=node.uuid), live=False)
        assert response.status == 200, path
        width = tab.page.evaluate("document.documentElement.scrollWidth")
        wide = tab.page.evaluate(
            """[...document.querySelectorAll('body *')]
                .filter(e => e.getBoundingClientRect().right > 391)
                .slice(0, 5)
                .map(e => `${e.tagName}.${e.className} ${e.getBoundingClientRect().right}`)"""
        )
        assert width <= 390, f"{path} is {width} px wide at 390 px: {wide}"
