"""Real-browser tests of the portal: Debian's chromium, driven by Playwright, against the live
control plane of tests/e2e (`manage.py serve` + Celery worker and beat as subprocesses, on the
test database and a Redis database this process's channel layer shares).

Tests marked `browser` skip loudly without chromium or the playwright package, and fail
instead with DC_REQUIRE_LAB=1 (tests/browser/require.py).
"""

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pytest
from django.db import connections

from tests.conftest import PASSWORD
from tests.e2e.conftest import (  # noqa: F401 (the fixtures, shared with tests/e2e)
    control_plane,
    control_plane_env,
)

from .require import CHROMIUM, browser_missing, require

if TYPE_CHECKING:  # imported late at run time (see `expect`)
    from playwright.sync_api import Browser, BrowserContext, Page, WebSocket

LIVE = 5_000  # ms: a live change on screen (typically tens of ms; a deadline, not a pause)


def expect(actual):
    """Playwright's `expect`, imported late: without playwright, these modules still import,
    and their tests skip (or fail under DC_REQUIRE_LAB=1) instead of breaking collection."""
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(actual)


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("browser"):
        require(browser_missing())  # before fixtures: no server started for a skipped test


@dataclass
class Tab:
    """A page of the portal and the live sockets (/ws/events/) it opened, oldest first."""

    page: "Page"
    sockets: "list[WebSocket]" = field(default_factory=list)
    refused: "list[WebSocket]" = field(default_factory=list)  # those whose handshake failed
    frames: list = field(default_factory=list)  # (socket, JSON frame) the page received

    def watch(self, socket: "WebSocket") -> None:
        if "/ws/events/" in socket.url:
            self.sockets.append(socket)
            socket.on("socketerror", lambda _: self.refused.append(socket))
            socket.on("framereceived", lambda text: self.frames.append((socket, json.loads(text))))

    def received(self, socket: "WebSocket") -> list[int]:
        """Ids of the events `socket` brought, in order, repeats included."""
        return [
            event["id"]
            for s, frame in self.frames
            if s is socket and frame["type"] == "events"
            for event in frame["events"]
        ]

    @property
    def socket(self) -> "WebSocket":
        return self.sockets[-1]

    def wait_closed(self, socket: "WebSocket", timeout: int = LIVE) -> None:
        """Until `socket` is closed or refused. (The sync API delivers events only inside its
        calls, so nothing is missed between the check and the wait.)"""
        from playwright.sync_api import Error

        try:
            if not socket.is_closed():
                socket.wait_for_event("close", timeout=timeout)
        except Error:
            if socket not in self.refused:  # the wait fails on a handshake's error
                raise

    def wait_sockets(self, count: int, timeout: int = LIVE) -> None:
        """Until the page has opened `count` live sockets."""
        while len(self.sockets) < count:
            self.page.wait_for_event("websocket", timeout=timeout)

    def status(self):
        """The live status line ("live", "reconnecting…", "access removed")."""
        return self.page.locator("[data-live-status]").first

    def open(self, path: str, *, live: bool = True):
        """Go to `path`; with `live`, wait until the page's socket is subscribed."""
        response = self.page.goto(path)
        if live:
            expect(self.status()).to_have_text("live", timeout=LIVE)
        return response


class Portal:
    """Browser contexts (one per person: own cookies) on the live control plane."""

    def __init__(self, browser: "Browser", url: str):
        self.browser, self.url = browser, url
        self.contexts: list[BrowserContext] = []

    def login(self, username: str) -> Tab:
        """A new context, logged in through the real login form."""
        context = self.browser.new_context(base_url=self.url)
        context.set_default_timeout(10_000)
        self.contexts.append(context)
        tab = self.tab(context)
        tab.page.goto("/login/")
        tab.page.get_by_label("Username").fill(username)
        tab.page.get_by_label("Password").fill(PASSWORD)
        tab.page.get_by_role("button", name="Log in").click()
        expect(tab.page.get_by_role("button", name="Log out")).to_be_visible()
        return tab

    def tab(self, context: "BrowserContext") -> Tab:
        """Another page in `context` (same session: a second browser tab)."""
        tab = Tab(context.new_page())
        tab.page.on("websocket", tab.watch)
        return tab

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture
def browser(monkeypatch):
    """Debian's chromium, headless, for one test."""
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps its event loop "running" in this thread between calls, so
    # Django's ORM would refuse every query in the test as if it ran inside async code. The
    # test is plain sync code; the check is a false positive here.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        # No sandbox: chromium refuses to run as root (make test) with one; it only loads the
        # portal under test.
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        try:
            yield chromium
        finally:
            chromium.close()
            # While that loop runs, asgiref keeps this thread's database connections apart
            # (by context): close them now, or one stays open and the test database cannot
            # be dropped at the end of the session.
            connections.close_all()


@pytest.fixture
def portal(control_plane, browser):  # noqa: F811 (requests the imported fixture)
    portal = Portal(browser, control_plane.url)
    try:
        yield portal
    finally:
        portal.close()
