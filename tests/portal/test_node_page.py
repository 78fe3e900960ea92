"""The node page: its hour of charts, its facts, its containers' verbs, the install progress."""

import re

import pytest

from .conftest import text
from .test_nodes_pages import BASE, acme_nodes, queued  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db


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
    assert "Clock skew -" in page and "Last seen (UTC) 20" in page


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
