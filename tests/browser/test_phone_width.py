"""Every portal page of an organization with a few nodes, clusters, a credential and
containers, crawled by following its links, as its owner and as a read-only member (and the
pages before signing in), at a desktop's width (1280 px) and a phone's (390 px): no console
error, no failed request (the favicon included), never wider than the screen (wide tables
scroll inside themselves), an h1 on every page and a label on every form control."""

import re
from urllib.parse import urlsplit

import pytest

from containers.models import Container
from nodes.models import Node, NodeCluster
from providers.models import Credential
from tests.events.conftest import register_node

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SEEDS = ["/", "/orgs/acme/", "/settings/apikeys/", "/orgs/new/", "/password/change/"]
# Not pages: leaving the session, the agent's install script and package, the API and admin.
# Nor the person's other organizations (the organization menu links them).
SKIP = re.compile(r"^/(logout/|install/|api/|admin/|static/|ws/|orgs/(?!acme/|new/))")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
DESKTOP, PHONE = 1280, 390

# Every control a person fills in has a name a screen reader reads out.
UNLABELLED = """[...document.querySelectorAll('input, select, textarea')]
    .filter(e => !['hidden', 'submit', 'button'].includes(e.type))
    .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
                 && !e.getAttribute('aria-labelledby') && !e.title)
    .map(e => `${e.tagName} name=${e.name} id=${e.id}`)"""
WIDE = """[...document.querySelectorAll('body *')]
    .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
    .filter(e => {  // not inside something that scrolls or clips (a wide table's own scroll)
        for (let a = e.parentElement; a && a !== document.body; a = a.parentElement) {
            if (getComputedStyle(a).overflowX !== 'visible') return false;
        }
        return true;
    })
    .slice(0, 5)
    .map(e => `${e.tagName}#${e.id}.${e.className} ${e.getBoundingClientRect().right}`)"""


def _fleet(owner):
    """Two nodes (one in a cluster), two clusters, a credential, containers."""
    node, _ = register_node(owner)
    other, _ = register_node(owner, hostname="web-2")
    credential = Credential.objects.create(organization=owner.org, provider="aws", name="aws-main")
    clusters = [
        NodeCluster.objects.create(
            organization=owner.org, name=name, provider="local", region="lab", node_type="s",
            tags=[{"name": "blue"}],
        )
        for name in ("web", "batch")
    ]  # fmt: skip
    Node.objects.filter(pk=other.pk).update(node_cluster=clusters[0], tags=[{"name": "blue"}])
    for name, state in (("front", "Running"), ("worker-with-a-long-name-1", "Stopped")):
        Container.objects.create(
            organization=owner.org, node=node, name=name, image="local/busybox:lab", state=state
        )
    return node, credential


def _pattern(path: str) -> str:
    """One visit per kind of page: uuids and queries (a filter, a page) do not make a new one,
    nor each provider's add page (one template: the first, AWS's, is the widest)."""
    path = UUID.sub("{uuid}", urlsplit(path).path)
    return re.sub(r"/credentials/new/[^/]+/$", "/credentials/new/*/", path)


class Crawl:
    """One person's walk over the portal in one tab, recording what went wrong."""

    def __init__(self, tab, base: str, within: str = "/"):
        self.tab, self.page, self.base, self.within = tab, tab.page, base, within
        self.problems: list[str] = []
        self.icons: list[int] = []  # statuses of the favicon's requests
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.problems.append(f"script error: {error}"))
        self.page.on("requestfailed", self._failed)
        self.page.on("response", self._response)

    def _console(self, message) -> None:
        if message.type == "error":
            self.problems.append(f"console error on {self.page.url}: {message.text}")

    def _failed(self, request) -> None:
        # Leaving a page cancels what it still had in flight (a live refresh): not a failure.
        if "ERR_ABORTED" not in (request.failure or ""):
            self.problems.append(f"request failed: {request.url} {request.failure}")

    def _response(self, response) -> None:
        if "favicon" in response.url:
            self.icons.append(response.status)
        if response.status >= 400:
            self.problems.append(f"{response.status} for {response.url} on {self.page.url}")

    def links(self) -> list[str]:
        hrefs = self.page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
        found = []
        for href in hrefs:
            parts = urlsplit(href)
            if f"{parts.scheme}://{parts.netloc}" != self.base or SKIP.match(parts.path):
                continue
            if not parts.path.startswith(self.within):
                continue
            found.append(parts.path + (f"?{parts.query}" if parts.query else ""))
        return found

    def visit(self, path: str) -> None:
        self.page.set_viewport_size({"width": DESKTOP, "height": 900})
        response = self.tab.open(path, live=False)
        assert response is not None
        if response.status != 200:
            self.problems.append(f"{path} answered {response.status}")
            return
        if not self.page.locator("h1").count():
            self.problems.append(f"{path} has no h1")
        unlabelled = self.page.evaluate(UNLABELLED)
        if unlabelled:
            self.problems.append(f"{path} has controls without a label: {unlabelled}")
        for width in (DESKTOP, PHONE):
            self.page.set_viewport_size({"width": width, "height": 900})
            scroll = self.page.evaluate("document.documentElement.scrollWidth")
            if scroll > width:
                wide = self.page.evaluate(WIDE)
                self.problems.append(f"{path} is {scroll} px wide at {width} px: {wide}")

    def run(self, seeds: list[str]) -> list[str]:
        """Every page reachable from `seeds`, one per kind; the paths visited."""
        queue, seen, visited = list(seeds), set(), []
        while queue:
            path = queue.pop(0)
            if _pattern(path) in seen:
                continue
            seen.add(_pattern(path))
            visited.append(path)
            self.visit(path)
            queue.extend(self.links())
        # The last page's late requests (its icon among them) have settled.
        self.page.wait_for_load_state("networkidle")
        return visited


def _anonymous(portal):
    context = portal.browser.new_context(base_url=portal.url)
    context.set_default_timeout(10_000)
    portal.contexts.append(context)
    return portal.tab(context)


def _walk(crawl: Crawl, seeds: list[str]) -> list[str]:
    visited = crawl.run(seeds)
    assert not crawl.problems, "\n".join(crawl.problems)
    assert crawl.icons and all(status == 200 for status in crawl.icons), crawl.icons
    return visited


def test_every_page_is_clean_at_desktop_and_phone_widths(portal, owner, readonly_member):
    _fleet(owner)
    url = portal.url
    _walk(Crawl(_anonymous(portal), url), ["/login/", "/signup/", "/password/reset/"])
    owners = _walk(Crawl(portal.login(owner.username), url), SEEDS)
    # The organization's pages show each role its own; a user's own pages are alike for all.
    readers = _walk(
        Crawl(portal.login(readonly_member.username), url, within="/orgs/acme/"), ["/orgs/acme/"]
    )
    assert len(readers) >= 12, readers
    owner_pages = {_pattern(p) for p in owners}
    # The walk reached the pages it is meant to check (a broken link would shrink it).
    for page in (
        "/orgs/acme/nodes/",
        "/orgs/acme/nodes/{uuid}/",
        "/orgs/acme/clusters/{uuid}/",
        "/orgs/acme/containers/{uuid}/",
        "/orgs/acme/credentials/{uuid}/",
        "/orgs/acme/maintenance/",
        "/orgs/acme/events/",
        "/orgs/acme/audit/",
        "/orgs/acme/teams/{uuid}/",
        "/settings/sshkeys/",
    ):
        assert page in owner_pages, (page, sorted(owner_pages))
