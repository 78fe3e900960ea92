"""The node page: its hour of charts, its facts, its containers' verbs, the install progress."""
# ruff: noqa: F811 (the fixtures imported from test_nodes_pages are parameters here)

import re

import pytest

from .conftest import text
from .test_nodes_pages import BASE, acme_nodes, queued  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_minute_kept():
    """Before the fixtures' heartbeats: a node id a database reuses (SQLite) starts afresh."""
    from nodes import metrics

    metrics._kept.clear()


def test_node_page_draws_the_heartbeats_as_charts(client, acme_nodes, owner):  # noqa: F811
    client.force_login(owner.user)
    response = client.get(f"{BASE}/nodes/{acme_nodes.node.uuid}/")
    html = response.content.decode()
    assert html.count("<svg") >= 3 and 'data-refresh-every="60"' in html
    samples = [int(n) for n in re.findall(r'data-samples="(\d+)"', html)]
    assert len(samples) == 3 and min(samples) >= 1  # the fixture's heartbeat
    assert re.search(r'<circle cx="300.0" cy="30.0"', html)  # memory: half used, now
    page = text(response)
    assert "Memory used 1024 MB of 2048 MB" in page and "CPU load (1 min) 0.5" in page
    assert "Docker 20.10.24" in page and "Public IP 10.250.0.9" in page
    assert "Clock skew -" in page and "Last seen 20" in page


def _steps(body: dict) -> dict:
    return {step["key"]: step["done"] for step in body["steps"]}


def test_install_page_shows_each_step_the_control_plane_saw(client, owner, outsider):
    from nodes import services as node_services
    from nodes.transitions import liveness
    from tests.nodes.test_registration import FACTS, make_csr

    client.force_login(owner.user)
    page = client.post(f"{BASE}/nodes/token/")
    status_url = f"{BASE}/nodes/token/{page.context['token_uuid']}/"
    assert 'id="install-steps"' in page.content.decode()
    plaintext = page.context["command"].split("/install/")[1].split()[0]
    body = client.get(status_url).json()
    assert not any(_steps(body).values()) and body["failure"] is None

    assert client.get(f"/install/{plaintext}").status_code == 200  # the host fetches it
    assert _steps(client.get(status_url).json())["fetched"] is True

    refused = client.post(
        "/api/agent/v1/register/",
        {"token": plaintext, "csr": "not a CSR", "facts": FACTS},
        content_type="application/json",
    )
    assert refused.status_code == 400
    body = client.get(status_url).json()
    assert body["failure"].startswith("Bad CSR") and plaintext not in str(body)

    node = node_services.node_register(
        token=plaintext, csr=make_csr("late-host"), facts=FACTS | {"hostname": "late-host"},
        remote_ip="10.250.0.9",
    )["node"]  # fmt: skip
    body = client.get(status_url).json()
    assert _steps(body) == {"fetched": True, "registered": True, "daemon": False,
                            "deployed": False}  # fmt: skip
    assert body["failure"] is None and "late-host" in body["steps"][1]["label"]
    liveness.node_set_reached(node_id=node.pk, connection="tunnel")
    body = client.get(status_url).json()
    assert all(_steps(body).values()) and "tunnel" in body["steps"][2]["label"]

    client.force_login(outsider.user)  # another organization: not there
    assert client.get(status_url).status_code == 404
    assert client.get(status_url.replace(BASE, "/orgs/globex")).status_code == 404


def test_an_unknown_token_leaves_no_trace(client):
    from django.core.cache import cache

    from agentapi import progress
    from core import tokens

    fake = "dcr_" + "x" * 40
    assert b"unknown registration token" in client.get(f"/install/{fake}").content
    client.post("/api/agent/v1/register/", {"token": fake}, content_type="application/json")
    digest = tokens.digest(fake)
    assert cache.get(progress._key("fetched", digest)) is None
    assert cache.get(progress._key("refused", digest)) is None


DOCKER_ID = "ab" * 32


@pytest.fixture
def node_verbs(monkeypatch):
    """(node id, action id, verb, docker id) of the daemon verbs queued on commit."""
    calls = []
    monkeypatch.setattr("containers.tasks.node_container_run.delay", lambda *a: calls.append(a))
    return calls


@pytest.fixture
def refusing(acme_nodes):  # noqa: F811
    """The node, dialled directly at an address where nothing listens on 2375: refused at
    once (its tunnel would wait for an agent that never comes)."""
    from nodes.models import Node

    Node.objects.filter(pk=acme_nodes.node.pk).update(public_ip="127.0.0.1", connection="direct")
    return Node.objects.get(pk=acme_nodes.node.pk)


def _verb_url(node, verb, docker_id=DOCKER_ID):
    return f"{BASE}/nodes/{node.uuid}/containers/{docker_id}/{verb}/"


@pytest.mark.parametrize("verb", ["start", "stop", "restart", "remove"])
def test_a_writer_asks_the_daemon_and_it_is_an_action_with_an_audit_row(
    client,
    acme_nodes,
    owner,
    node_verbs,
    verb,
    django_capture_on_commit_callbacks,  # noqa: F811
):
    from accounts.models import AuditEntry
    from nodes.models import Action

    node = acme_nodes.node
    client.force_login(owner.user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(_verb_url(node, verb), {"name": "web-1"})
    assert response["Location"] == f"{BASE}/nodes/{node.uuid}/containers/"
    action = Action.objects.get(object_uuid=node.uuid, action__startswith="Node Container")
    assert action.action == f"Node Container {verb.title()}" and action.state == "Pending"
    assert node_verbs == [(node.pk, action.pk, verb, DOCKER_ID)]
    entry = AuditEntry.objects.get(action=f"node.container.{verb}")
    assert entry.data == {"container": DOCKER_ID[:12], "name": "web-1"}


def test_a_read_member_sees_the_containers_but_cannot_act(
    client,
    acme_nodes,
    readonly_member,
    node_verbs,  # noqa: F811
):
    from nodes.models import Action

    client.force_login(readonly_member.user)
    for verb in ("start", "stop", "restart", "remove"):
        assert client.post(_verb_url(acme_nodes.node, verb)).status_code == 403
    assert not node_verbs and not Action.objects.filter(action__startswith="Node Container")


def test_another_organization_gets_404(client, acme_nodes, outsider, node_verbs):  # noqa: F811
    client.force_login(outsider.user)
    node = acme_nodes.node
    for path in (_verb_url(node, "stop"), f"{BASE}/nodes/{node.uuid}/containers/{DOCKER_ID}/logs/"):
        method = client.post if path.endswith("stop/") else client.get
        assert method(path).status_code == 404
        assert method(path.replace(BASE, "/orgs/globex")).status_code == 404
    assert not node_verbs


def test_refusals_leave_no_action(client, refusing, owner, node_verbs):
    from containers.models import Container
    from nodes.models import Action

    node = refusing
    client.force_login(owner.user)
    assert client.post(_verb_url(node, "stop", "abc")).status_code == 404  # not a docker id
    assert client.post(_verb_url(node, "explode")).status_code == 404
    Container.objects.create(
        organization=owner.org, name="c1", image="local/busybox:lab", node=node, docker_id=DOCKER_ID
    )
    page = client.post(_verb_url(node, "stop"), follow=True)
    assert "The control plane runs this container: use its own page." in text(page)
    assert not node_verbs and not Action.objects.filter(action__startswith="Node Container")


def test_a_daemon_that_cannot_be_reached_fails_the_action_with_its_reason(refusing, owner):
    from accounts.audit import Actor
    from containers.tasks import node_container_run
    from nodes.transitions import actions

    node = refusing
    action = actions.action_create(
        actor=Actor(user=owner.user), organization=owner.org, action="Node Container Stop",
        object_uuid=node.uuid,
    )  # fmt: skip
    node_container_run(node.pk, action.pk, "stop", DOCKER_ID)
    action.refresh_from_db()
    assert action.state == "Failed"
    assert action.error.startswith(f"Docker on {node} refused to stop abababababab: the daemon did")
    assert action.error in action.logs


def test_logs_follow_asks_only_for_what_came_after(client, refusing, owner):
    client.force_login(owner.user)
    url = f"{BASE}/nodes/{refusing.uuid}/containers/{DOCKER_ID}/logs/"
    assert client.get(url, {"after": "x"}).status_code == 400
    body = client.get(url, {"after": "1700000000.000000001"}).json()
    assert body["lines"] == [] and body["after"] == "1700000000.000000001" and body["error"]
    page = client.get(url)
    assert page.status_code == 200 and "could not be read" in text(page)
