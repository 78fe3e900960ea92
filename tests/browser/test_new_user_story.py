"""A new user's first hour, in a real browser against the live control plane and a real lab
host: sign up, make an organization, follow the dashboard to an install command, run it on
the host and watch the page turn into the Deployed node, see its charts and containers, stop,
start, follow and remove a container, invite a member and see what a read member sees. No
page logs an error to the console. Screenshots of the main pages go to var/screenshots/.

Then the same node through the API: listed, installed again safely, its agent upgraded (this
story is also the end-to-end test of a directly reached BYO node: tests/e2e/test_byoh.py has
the tunnelled one).
"""

import base64
import re
from pathlib import Path

import pytest
import requests

from accounts import services
from accounts.audit import Actor
from accounts.models import User
from lab import import_busybox
from nodes.docker_client import docker_client
from nodes.models import Action, Node
from tests.conftest import PASSWORD
from tests.e2e.conftest import wait_for

from .conftest import LIVE, expect

pytestmark = [pytest.mark.browser, pytest.mark.lab, pytest.mark.slow]
SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
DEPLOYED = 60_000  # ms: install, registration, the daemon reached (about 10 s here)
DAEMON = 20_000  # ms: a verb's task, the daemon's events back through the agent, a refresh
# A container that stops at once on SIGTERM (a bare `sleep` as PID 1 would wait the grace),
# and says something every second, for the followed logs.
TICKING = "trap 'exit 0' TERM; echo hello from web-1; i=0; while true; do i=$((i+1)); echo tick $i; sleep 1; done"  # noqa: E501


MORE_TICKS = """n => (document.querySelector("#container-logs").textContent
    .match(/tick \\d+/g) || []).length > n"""


class Story:
    """The browser contexts of the story's people, and every console error their pages log."""

    def __init__(self, browser, url: str):
        self.browser, self.url = browser, url
        self.errors: list[str] = []
        self.contexts: list = []

    def person(self):
        context = self.browser.new_context(
            base_url=self.url, viewport={"width": 1280, "height": 900}
        )
        context.set_default_timeout(10_000)
        self.contexts.append(context)
        page = context.new_page()
        page.on("console", lambda message: self._console(page, message))
        page.on("response", self._response)
        page.on("pageerror", lambda e: self.errors.append(f"{page.url}: {e}"))
        return page

    def _console(self, page, message) -> None:
        # A failed load is logged without its address: `_response` names it instead.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.errors.append(f"{page.url}: {message.text}")

    def _response(self, response) -> None:
        # The favicon is another change's (the browser asks for it by itself).
        if response.status >= 400 and not response.url.endswith("/favicon.ico"):
            self.errors.append(f"{response.url}: HTTP {response.status}")

    def close(self):
        for context in self.contexts:
            context.close()


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def sign_up(page, username: str) -> None:
    page.goto("/")
    page.get_by_role("link", name="Sign up").first.click()
    page.get_by_label("Username").fill(username)
    page.get_by_label("Email").fill(f"{username}@example.test")
    page.locator("#id_password").fill(PASSWORD)
    page.locator("#id_password2").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def row(page, name: str):
    return page.locator("#node-containers tr").filter(has_text=name)


def test_a_new_user_brings_a_host_and_runs_its_containers(control_plane, browser, lab_host):
    story = Story(browser, control_plane.url)
    try:
        _walk(story, control_plane, lab_host)
    finally:
        story.close()
    assert not story.errors, "\n".join(story.errors)


def _walk(story: Story, control_plane, host) -> None:
    erin = story.person()
    sign_up(erin, "erin")
    shot(erin, "01-dashboard-new-user")
    erin.locator("#id_name").fill("erinco")
    erin.get_by_role("button", name="Create organization").click()
    expect(erin).to_have_url(re.compile(r"/orgs/erinco/$"))

    # The dashboard leads a new organization to its first node.
    erin.goto("/")
    expect(erin.get_by_role("heading", name="Add your first node")).to_be_visible()
    shot(erin, "02-dashboard-first-run")
    erin.get_by_role("link", name="bring your own host").click()
    erin.get_by_role("button", name="Show an install command").click()
    command = erin.locator("#install-command").inner_text().strip()
    assert command.startswith(f"curl -fsSL {control_plane.public_url}/install/")
    expect(erin.locator("#install-progress")).to_contain_text("Waiting for your host")
    erin.evaluate("window.dcStory = true")  # still there only if the page never reloads
    shot(erin, "03-install-command")

    result = host.run(["sh", "-c", command], check=False, timeout=120)
    assert result.returncode == 0, f"install failed:\n{result.stdout}\n{result.stderr}"
    progress = erin.locator("#install-progress")
    expect(progress).to_have_text(
        f"Your host registered as {host.name}: Deployed", timeout=DEPLOYED
    )
    steps = erin.locator("#install-steps li.done")
    expect(steps).to_have_count(4)
    expect(erin.locator("#install-failure")).to_be_hidden()
    assert erin.evaluate("window.dcStory === true")
    shot(erin, "04-install-deployed")

    node = Node.objects.get(organization__name="erinco")
    assert (node.state, node.connection, node.public_ip) == ("Deployed", "direct", host.address)
    wait_for(
        lambda: Node.objects.filter(pk=node.pk).exclude(last_metric=None).exists(),
        timeout=20,
        message="a heartbeat with metrics",
    )
    client = docker_client(node)
    try:
        import_busybox(client)
        client.containers.run("local/busybox:lab", ["sh", "-c", TICKING], name="web-1", detach=True)
    finally:
        client.close()

    # The node's page: facts, an hour of charts (one sample so far), its containers.
    progress.get_by_role("link", name=host.name).click()
    expect(erin.get_by_role("heading", name=f"Node {host.name}")).to_be_visible()
    expect(erin.locator("figure.chart circle")).to_have_count(3)
    samples = erin.locator("figure.chart").first.get_attribute("data-samples")
    assert int(samples) >= 1
    for label, value in (("Docker", node.docker_version), ("Public IP", host.address)):
        fact = erin.locator("tr").filter(has=erin.locator("th", has_text=re.compile(f"^{label}$")))
        expect(fact).to_contain_text(value)
    expect(erin.locator("#node-containers-panel")).to_contain_text("over mutual TLS")
    web = row(erin, "web-1")
    expect(web.locator(".badge")).to_have_text("running", timeout=LIVE)
    shot(erin, "05-node-page")

    # Stop and start it: each an Action; the list follows the daemon's events.
    web.get_by_role("button", name="Stop").click()
    expect(erin.get_by_text("Stopping web-1 on")).to_be_visible()
    expect(row(erin, "web-1").locator(".badge")).to_have_text("exited", timeout=DAEMON)
    row(erin, "web-1").get_by_role("button", name="Start").click()
    expect(row(erin, "web-1").locator(".badge")).to_have_text("running", timeout=DAEMON)
    done = Action.objects.filter(object_uuid=node.uuid, action__startswith="Node Container")
    wait_for(
        lambda: sorted(done.filter(state="Success").values_list("action", flat=True))
        == ["Node Container Start", "Node Container Stop"],
        timeout=10,
        message="both actions to succeed",
        seen=lambda: list(done.values_list("action", "state", "error")),
    )
    shot(erin, "06-node-containers")

    # Its logs, followed: a line the page did not have when it loaded arrives by itself.
    row(erin, "web-1").get_by_role("link", name="Logs").click()
    logs = erin.locator("#container-logs")
    expect(logs).to_contain_text("hello from web-1")
    ticks = len(re.findall(r"tick \d+", logs.inner_text()))
    erin.wait_for_function(MORE_TICKS, arg=ticks, timeout=LIVE)
    shot(erin, "07-container-logs")

    # A member invited without a team reads but cannot act.
    erin.goto("/orgs/erinco/invitations/")
    erin.get_by_label("Email").fill("frank@example.test")
    erin.get_by_role("button", name="Send invitation").click()
    link = erin.get_by_text("It is shown only now").inner_text()
    accept = re.search(r"https?://[^/\s]+(/\S+)", link).group(1)
    frank = story.person()
    sign_up(frank, "frank")
    frank.goto(accept)
    frank.get_by_role("button", name="Accept the invitation").click()
    expect(frank.get_by_text("You joined erinco as member")).to_be_visible()
    frank.goto(f"/orgs/erinco/nodes/{node.uuid}/")
    expect(frank.locator("figure.chart")).to_have_count(3)
    expect(row(frank, "web-1").locator(".badge")).to_have_text("running", timeout=LIVE)
    expect(row(frank, "web-1").get_by_role("link", name="Logs")).to_be_visible()
    expect(frank.locator("#node-containers button")).to_have_count(0)
    expect(frank.get_by_role("heading", name="Terminate")).to_have_count(0)
    shot(frank, "08-node-page-read-member")

    # Removing asks first; the row goes once the daemon says so.
    erin.goto(f"/orgs/erinco/nodes/{node.uuid}/containers/")
    erin.once("dialog", lambda dialog: dialog.accept())
    row(erin, "web-1").get_by_role("button", name="Remove").click()
    expect(erin.get_by_text("Removing web-1 from")).to_be_visible()
    expect(row(erin, "web-1")).to_have_count(0, timeout=DAEMON)
    _and_through_the_api(control_plane, host, node)


def _and_through_the_api(control_plane, host, node) -> None:
    """The same node through the Docker Cloud API: listed, safe to install again, and it
    takes the control plane's agent (verified, swapped in place, back within seconds)."""
    user = User.objects.get(username="erin")
    _, key = services.apikey_create(actor=Actor(user=user), user=user, label="story")
    auth = {"Authorization": "Basic " + base64.b64encode(f"erin:{key}".encode()).decode()}
    api = f"{control_plane.url}/api/infra/v1/erinco/node/"
    listed = requests.get(api, headers=auth, timeout=10).json()["objects"]
    assert [(n["uuid"], n["state"], n["connection"]) for n in listed] == [
        (str(node.uuid), "Deployed", "direct")
    ]
    assert node.hostname == host.name and node.agent_version
    command = requests.post(
        f"{control_plane.url}/api/infra/v1/erinco/token/", headers=auth, timeout=10
    ).json()["command"]
    again = host.run(["sh", "-c", command], check=False, timeout=120)
    assert again.returncode == 0, again.stderr
    assert Node.objects.filter(organization=node.organization).count() == 1

    upgrade = requests.post(f"{api}{node.uuid}/agent-upgrade/", headers=auth, timeout=10)
    assert upgrade.status_code == 202, upgrade.text
    action_url = control_plane.url + upgrade.headers["X-DockerCloud-Action-URI"]

    def finished():
        body = requests.get(action_url, headers=auth, timeout=10).json()
        return body if body["state"] in ("Success", "Failed") else None

    action = wait_for(finished, timeout=60, message="the agent upgrade to finish")
    assert action["state"] == "Success", action["logs"]
    assert "is running" in action["logs"]
    node.refresh_from_db()
    assert node.state == "Deployed" and node.agent_version
