"""The node list's filters, search and sort: GET parameters that narrow and order the rows,
kept by the pager, never a 500 whatever they hold, and never a way into another
organization's nodes."""

import re
from datetime import UTC, timedelta

import pytest
from django.utils import timezone

from nodes.models import Node, NodeCluster

from .conftest import text

pytestmark = pytest.mark.django_db

URL = "/orgs/acme/nodes/"


def _cluster(org, name, tags=()):
    return NodeCluster.objects.create(
        organization=org, name=name, provider="local", region="lab", node_type="s",
        tags=[{"name": t} for t in tags],
    )  # fmt: skip


@pytest.fixture
def fleet(owner, outsider):
    """Four nodes of acme in two shapes, and globex's own cluster and tagged node."""
    now = timezone.now()
    web = _cluster(owner.org, "web", tags=["blue"])
    make = Node.objects.create
    nodes = {
        "alpha": make(
            organization=owner.org, hostname="alpha", state="Deployed", connection="direct",
            public_ip="203.0.113.10", node_cluster=web, tags=[{"name": "blue"}],
            created=now - timedelta(days=3), last_seen=now - timedelta(minutes=5),
        ),
        "bravo": make(
            organization=owner.org, hostname="bravo-host", nickname="Bravo", state="Unreachable",
            connection="tunnel", public_ip="198.51.100.7", created=now - timedelta(days=2),
            last_seen=now - timedelta(hours=2), tags=[{"name": "bluegreen"}],
        ),
        "charlie": make(
            organization=owner.org, hostname="charlie", state="Deploying",
            created=now - timedelta(days=1),
        ),
        "delta": make(
            organization=owner.org, hostname="delta", state="Deployed", connection="tunnel",
            node_cluster=web, created=now, last_seen=now, tags=[{"name": "blue"}],
        ),
    }  # fmt: skip
    theirs = _cluster(outsider.org, "theirs", tags=["secret"])
    make(
        organization=outsider.org, hostname="globex-box", node_cluster=theirs,
        tags=[{"name": "blue"}, {"name": "secret"}], state="Deployed",
    )  # fmt: skip
    return nodes | {"web": web, "theirs": theirs}


def _rows(response) -> list[str]:
    """Hostnames of the rows shown, in order."""
    assert response.status_code == 200, response.content[:300]
    body = response.content.decode().split('data-refresh-on-type="node"', 1)[1]
    body = body.split("</tbody>", 1)[0]
    names = re.findall(r'<a href="/orgs/acme/nodes/[0-9a-f-]+/">([^<]+)</a>', body)
    return [{"Bravo": "bravo"}.get(name, name) for name in names]


@pytest.fixture
def alice(client, owner):
    client.force_login(owner.user)
    return client


FILTERS = [
    ({}, ["delta", "charlie", "bravo", "alpha"]),  # every node, newest first
    ({"state": "Deployed"}, ["delta", "alpha"]),
    ({"state": "Unreachable"}, ["bravo"]),
    ({"connection": "direct"}, ["alpha"]),
    ({"connection": "tunnel"}, ["delta", "bravo"]),
    ({"connection": "unknown"}, ["charlie"]),
    ({"cluster": "none"}, ["charlie", "bravo"]),
    ({"tag": "blue"}, ["delta", "alpha"]),  # a whole tag, not a prefix ("bluegreen")
    ({"tag": "bluegreen"}, ["bravo"]),
    ({"q": "brav"}, ["bravo"]),  # nickname prefix
    ({"q": "BRAVO-h"}, ["bravo"]),  # hostname prefix, any case
    ({"q": "203.0.113"}, ["alpha"]),  # public IP prefix
    ({"state": "Deployed", "connection": "tunnel"}, ["delta"]),
    ({"state": "Deployed", "tag": "blue", "q": "al"}, ["alpha"]),
]


def test_filters_narrow_the_list(alice, fleet):
    for query, shown in FILTERS:
        assert _rows(alice.get(URL, query)) == shown, query


def test_cluster_filter_and_uuid_prefix_search(alice, fleet):
    assert _rows(alice.get(URL, {"cluster": str(fleet["web"].uuid)})) == ["delta", "alpha"]
    prefix = str(fleet["charlie"].uuid)[:8]
    assert "charlie" in _rows(alice.get(URL, {"q": prefix}))
    assert _rows(alice.get(URL, {"q": str(fleet["charlie"].uuid)})) == ["charlie"]


SORTS = [
    ("name", "asc", ["alpha", "bravo", "charlie", "delta"]),  # "Bravo" sorts as bravo
    ("name", "desc", ["delta", "charlie", "bravo", "alpha"]),
    ("created", "asc", ["alpha", "bravo", "charlie", "delta"]),
    ("state", "asc", ["charlie", "alpha", "delta", "bravo"]),  # lifecycle, then oldest
    ("last_seen", "desc", ["delta", "alpha", "bravo", "charlie"]),  # never seen last
    ("last_seen", "asc", ["charlie", "bravo", "alpha", "delta"]),
]


def test_sort_orders_the_list(alice, fleet):
    for sort, order, shown in SORTS:
        assert _rows(alice.get(URL, {"sort": sort, "order": order})) == shown, (sort, order)


BAD = [
    {"state": "Exploded"},
    {"sort": "password"},
    {"order": "sideways"},
    {"connection": "pigeon"},
    {"cluster": "not-a-uuid"},
    {"page": "-3"},
    {"q": "x" * 5000},
    {"q": "%_\\'\""},
    {"tag": "\x00"},
    {"state": ["Deployed", "Terminated"]},
]


def test_bad_parameters_never_fail_the_page(alice, fleet):
    for query in BAD:
        assert alice.get(URL, query).status_code == 200, query


def test_an_unknown_state_is_ignored_with_a_message(alice, fleet):
    response = alice.get(URL, {"state": "Exploded", "connection": "tunnel"})
    assert _rows(response) == ["delta", "bravo"]  # the good filter still applies
    assert "Select a valid choice. Exploded is not one of the available choices." in text(response)


def test_another_organizations_cluster_or_tag_shows_nothing_of_theirs(alice, fleet):
    response = alice.get(URL, {"cluster": str(fleet["theirs"].uuid)})
    assert "globex-box" not in response.content.decode()
    assert "Not a cluster of this organization." in text(response)
    assert "theirs" not in _rows(response)
    response = alice.get(URL, {"tag": "secret"})
    assert _rows(response) == []
    assert "globex-box" not in response.content.decode()


def test_an_empty_result_says_so_and_how_to_clear_the_filters(alice, fleet):
    response = alice.get(URL, {"q": "nothing-like-this"})
    assert "No nodes match these filters." in text(response)
    assert f'<a href="{URL}">Clear the filters</a>' in response.content.decode()


def test_the_pager_keeps_the_filters(alice, owner):
    Node.objects.bulk_create(
        Node(organization=owner.org, hostname=f"n{i:03}", state="Deployed") for i in range(60)
    )
    Node.objects.create(organization=owner.org, hostname="gone", state="Terminated")
    response = alice.get(URL, {"state": "Deployed", "sort": "name", "order": "asc"})
    assert len(_rows(response)) == 50
    assert "(60 nodes)" in text(response)
    page = response.content.decode()
    assert 'href="?state=Deployed&amp;sort=name&amp;order=asc&amp;page=2"' in page
    second = alice.get(URL, {"state": "Deployed", "sort": "name", "order": "asc", "page": 2})
    assert _rows(second) == [f"n{i:03}" for i in range(50, 60)]


def test_a_filtered_list_refreshes_on_any_node_change(alice, fleet):
    """Live: with filters, the rows are fetched again when a node changes (a node leaving the
    chosen state leaves the list); the refresh fetches the same address, filters included."""
    assert 'data-refresh-on-change="node"' in alice.get(URL, {"state": "Deployed"}).content.decode()
    assert 'data-refresh-on-change="node"' not in alice.get(URL).content.decode()


def test_a_read_member_filters_too(client, readonly_member, fleet):
    client.force_login(readonly_member.user)
    assert _rows(client.get(URL, {"state": "Deployed"})) == ["delta", "alpha"]


def test_an_outsider_gets_404_even_with_filters(client, outsider, fleet):
    client.force_login(outsider.user)
    response = client.get(URL, {"cluster": str(fleet["theirs"].uuid)})
    assert response.status_code == 404


def test_times_are_rendered_in_utc_for_the_browser_to_localise(alice, fleet):
    page = alice.get(URL).content.decode()
    seen = fleet["delta"].last_seen.astimezone(UTC)
    iso = seen.isoformat().replace("+00:00", "Z")
    assert f'<time datetime="{iso}" title="{seen:%Y-%m-%d %H:%M:%S} UTC"' in page


def test_a_cluster_past_the_menus_first_ones_still_filters(alice, owner, fleet, monkeypatch):
    monkeypatch.setattr("nodes.views.byo.CLUSTERS_SHOWN", 1)
    _cluster(owner.org, "newer")  # the menu's only one now: clusters come newest first
    response = alice.get(URL, {"cluster": str(fleet["web"].uuid)})
    assert _rows(response) == ["delta", "alpha"]
    assert "Not a cluster of this organization." not in text(response)
