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
