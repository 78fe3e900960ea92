"""Event search (API and portal page), retention, and the event frames' rendering."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from nodes.events.render import describe, dockercloud_frame, stored_payload
from nodes.events.services import NodeContext, agent_event_row, agent_events_store, events_prune
from nodes.models import DockerEvent
from nodes.tasks import prune_events

from .conftest import register_node

pytestmark = pytest.mark.django_db(transaction=True)
T0 = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)


def add_events(node, items: list[tuple[str, str, int]]) -> list[DockerEvent]:
    """(type, action, minutes after T0) per event, stored through the agents' path."""
    node = type(node).objects.select_related("organization").get(pk=node.pk)
    ctx = NodeContext.of(node)
    start = (DockerEvent.objects.filter(node=node).exclude(seq=None).count()) + 1
    rows = []
    for offset, (kind, action, minutes) in enumerate(items):
        nanos = int((T0 + timedelta(minutes=minutes)).timestamp() * 1e9)
        rows.append(
            agent_event_row(
                ctx,
                {
                    "seq": start + offset,
                    "type": kind,
                    "action": action,
                    "actor": {"id": f"id{start + offset}", "attributes": {"name": "web"}},
                    "time_nano": nanos,
                },
                timezone.now(),
            )
        )
    agent_events_store(rows=rows)
    return rows


@pytest.fixture
def fleet(owner):
    web, _ = register_node(owner, "web-1")
    db, _ = register_node(owner, "db-1")
    add_events(web, [("container", "start", 0), ("container", "die", 5), ("image", "pull", 10)])
    add_events(db, [("container", "exec_start: sh -c ls", 1), ("network", "connect", 20)])
    return web, db


def search(person, **params):
    response = person.client().get("/api/v1/orgs/acme/events/", params)
    return response


def test_search_filters_by_node_type_action_and_time(owner, fleet):
    web, db = fleet
    everything = search(owner).json()
    assert everything["meta"]["total_count"] == 7  # 5 daemon events + 2 registrations
    times = [e["time"] for e in everything["objects"]]
    assert times == sorted(times, reverse=True)
    by_node = search(owner, node=str(web.uuid), type="container").json()["objects"]
    assert [e["action"] for e in by_node] == ["die", "start"]
    assert {e["node"] for e in by_node} == {str(web.uuid)} and by_node[0]["node_name"] == "web-1"
    verb = search(owner, action="exec_start").json()["objects"]
    assert [e["action"] for e in verb] == ["exec_start: sh -c ls"]
    window = search(owner, since="2026-01-31T12:04:00Z", until="2026-01-31T12:20:00").json()
    assert [e["action"] for e in window["objects"]] == ["pull", "die"]
    since, until = (str((T0 + timedelta(minutes=m)).timestamp()) for m in (15, 60))
    epoch = search(owner, since=since, until=until).json()
    assert [e["type"] for e in epoch["objects"]] == ["network"]
    page = search(owner, type="container", limit=1).json()
    assert page["meta"]["next"].startswith("/api/v1/orgs/acme/events/?type=container&limit=1")
    assert "received" in page["objects"][0]


def test_search_refuses_bad_filters_and_other_tenants(owner, readonly_member, outsider, fleet):
    assert search(owner, since="yesterday").status_code == 400
    assert "since" in search(owner, since="yesterday").json()["error"]
    assert search(owner, node="web-1").status_code == 400
    assert search(readonly_member).status_code == 200
    assert search(outsider).status_code == 404
    assert outsider.client().get("/api/v1/orgs/globex/events/").json()["objects"] == []
    from rest_framework.test import APIClient

    assert APIClient().get("/api/v1/orgs/acme/events/").status_code == 401


def test_portal_page_searches_and_goes_live_on_the_first_page(client, owner, outsider, fleet):
    web, _ = fleet
    client.force_login(owner.user)
    page = client.get("/orgs/acme/events/", {"node": str(web.uuid), "type": "container"})
    assert page.status_code == 200
    html = page.content.decode()
    assert html.count("<tr data-id=") == 2 and "web (image=" not in html
    assert 'data-live-org="acme"' in html and "js/live.js" in html
    bounded = client.get("/orgs/acme/events/", {"until": "2026-01-31T12:03:00"}).content.decode()
    assert "data-live-org" not in bounded and bounded.count("<tr data-id=") == 2
    bad = client.get("/orgs/acme/events/", {"since": "soon"}).content.decode()
    assert "ISO 8601" in bad
    client.force_login(outsider.user)
    assert client.get("/orgs/acme/events/").status_code == 404


def test_prune_deletes_old_events_in_batches(owner, fleet, settings):
    settings.DC_EVENT_RETENTION_DAYS = 30
    old = list(DockerEvent.objects.order_by("id").values_list("id", flat=True)[:4])
    DockerEvent.objects.filter(id__in=old).update(received=timezone.now() - timedelta(days=31))
    assert events_prune(batch=3) == 4
    assert not DockerEvent.objects.filter(id__in=old).exists()
    assert DockerEvent.objects.count() == 3
    DockerEvent.objects.update(received=timezone.now() - timedelta(days=2))
    prune_events()  # the beat task, with the setting
    assert DockerEvent.objects.count() == 3
    assert events_prune(days=1) == 3


def test_rendering_of_rows_and_frames(owner, fleet):
    web, _ = fleet
    die = stored_payload(
        DockerEvent.objects.select_related("organization", "node").get(action="die")
    )
    assert describe(die) == "web"
    assert dockercloud_frame(die) == {
        "type": "container",
        "action": "update",
        "parents": [f"/api/infra/v1/acme/node/{web.uuid}/"],
        "resource_uri": "/api/app/v1/acme/container/id2/",
        "state": "Stopped",
        "uuid": die["uuid"],
        "datetime": "2026-01-31T12:05:00Z",
    }
    pull = stored_payload(
        DockerEvent.objects.select_related("organization", "node").get(action="pull")
    )
    assert dockercloud_frame(pull) is None  # Docker Cloud had no image frames
    gap = {**die, "type": "gap", "attributes": {"dropped": 12}}
    assert describe(gap) == "12 events lost (node buffer full)" and dockercloud_frame(gap) is None
    created = stored_payload(
        DockerEvent.objects.select_related("organization", "node").filter(type="node").first()
    )
    assert describe(created) == "Deploying"
    assert dockercloud_frame(created)["action"] == "create"


def test_live_include_renders_for_the_fleet_and_for_one_node(owner, fleet):
    from django.template.loader import render_to_string

    web, _ = fleet
    page = render_to_string("nodes/_live.html", {"live_org": owner.org, "live_node": web})
    assert f'data-live-org="acme" data-live-node="{web.uuid}"' in page
    assert "data-live-events" in page and "data-live-node-column" not in page
    assert f"/orgs/acme/events/?node={web.uuid}" in page and "js/live.js" in page
    fleet_page = render_to_string("nodes/_live.html", {"live_org": owner.org})
    assert "data-live-node-column" in fleet_page and "data-live-node=" not in fleet_page
    states = render_to_string("nodes/_live.html", {"live_org": owner.org, "live_events": False})
    assert 'data-live-org="acme"' in states and "data-live-events" not in states
