"""The portal's events socket: session auth, membership on every subscription, catch-up,
closing with the session's credentials, bounded input."""

import asyncio
import json

import pytest
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.test import Client

from accounts import services as account_services
from accounts.audit import Actor
from accounts.models import Membership
from nodes.events import node_state_event
from nodes.models import DockerEvent
from nodes.transitions import liveness
from tests.conftest import PASSWORD

from .conftest import browser_socket, receive_until, register_node, run, session_cookie

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("layer")]


def is_events(frame) -> bool:
    return frame["type"] == "events"


async def subscribed(cookie, **subscription):
    socket = browser_socket(cookie)
    connected, _ = await socket.connect()
    assert connected
    await socket.send_json_to({"type": "subscribe", **subscription})
    frame = await socket.receive_json_from()
    return socket, frame


def test_anonymous_and_cross_site_sockets_are_refused(owner):
    cookie = session_cookie(owner.user)

    async def scenario():
        assert await browser_socket(None).connect() == (False, 4401)
        evil = browser_socket(cookie, origin="https://evil.example")
        assert await evil.connect() == (False, 4401)
        assert (await browser_socket(cookie, origin="").connect())[0]  # not a browser: no Origin

    run(scenario)


def test_outsider_is_told_not_found_and_receives_nothing(owner, outsider):
    node, _ = register_node(owner)
    cookie = session_cookie(outsider.user)

    async def scenario():
        refused = browser_socket(cookie, path="/ws/events/?org=acme")
        assert await refused.connect() == (False, 4404)  # checked before accepting
        socket, frame = await subscribed(cookie, org="acme")
        assert frame == {"type": "error", "error": "not found", "org": "acme", "node": None}
        await socket.send_json_to({"type": "subscribe", "org": "globex", "node": str(node.uuid)})
        assert (await socket.receive_json_from())["error"] == "not found"  # acme's node
        own, frame = await subscribed(cookie, org="globex")
        assert frame["type"] == "subscribed" and frame["nodes"] == []
        await database_sync_to_async(liveness.node_set_reached)(
            node_id=node.pk, connection="direct"
        )
        assert await socket.receive_nothing(timeout=0.3)
        assert await own.receive_nothing(timeout=0.3)

    run(scenario)


@pytest.mark.smoke
def test_member_sees_node_state_changes_of_the_org_and_the_node(owner, readonly_member):
    node, _ = register_node(owner)
    cookie = session_cookie(readonly_member.user)

    async def scenario():
        fleet, frame = await subscribed(cookie, org="acme", recent=0)
        assert frame["nodes"] == [{"uuid": str(node.uuid), "state": "Deploying"}]
        page, frame = await subscribed(cookie, org="acme", node=str(node.uuid), recent=0)
        assert frame["node"] == str(node.uuid) and frame["last_id"] > 0
        await database_sync_to_async(liveness.node_set_reached)(
            node_id=node.pk, connection="direct"
        )
        seen = [await receive_until(s, is_events) for s in (fleet, page)]
        return [frame for frame, _ in seen]

    fleet, page = run(scenario)
    assert fleet == page
    (event,) = fleet["events"]
    assert event["type"] == "node" and event["action"] == "update" and event["seq"] is None
    assert event["actor"] == str(node.uuid) and event["node"] == str(node.uuid)
    assert event["attributes"] == {
        "state": "Deployed",
        "resource_uri": f"/api/infra/v1/acme/node/{node.uuid}/",
        "parents": [],
    }
    assert event["id"] == DockerEvent.objects.filter(type="node").latest("id").pk


def test_a_removed_member_socket_closes(owner, readonly_member):
    cookie = session_cookie(readonly_member.user)
    membership = Membership.objects.get(organization=owner.org, user=readonly_member.user)

    async def scenario():
        socket, frame = await subscribed(cookie, org="acme")
        assert frame["type"] == "subscribed"
        await database_sync_to_async(account_services.membership_remove)(
            actor=Actor(user=owner.user), membership=membership
        )
        return await socket.receive_close(timeout=1)

    assert run(scenario) == 4403


def test_logging_out_closes_the_sessions_sockets_and_no_others(owner):
    tab = Client()
    tab.force_login(owner.user)
    cookie = tab.cookies["sessionid"].value
    other_browser = session_cookie(owner.user)

    async def scenario():
        socket, frame = await subscribed(cookie, org="acme")
        assert frame["type"] == "subscribed"
        kept, _ = await subscribed(other_browser, org="acme")
        response = await database_sync_to_async(tab.post)("/logout/")
        assert response.status_code == 302
        code = await socket.receive_close(timeout=1)
        assert await kept.receive_nothing(timeout=0.3)
        again = browser_socket(cookie)  # the page's reconnect: the session is gone
        return code, await again.connect()

    code, reconnect = run(scenario)
    assert code == 4401
    assert reconnect == (False, 4401)


def test_a_logout_while_the_socket_connects_still_closes_it(owner, monkeypatch):
    """The session is flushed after the socket's login check and before it joins its
    session's group (so it missed the close the logout sent): it is closed all the same."""
    tab = Client()
    tab.force_login(owner.user)
    cookie = tab.cookies["sessionid"].value
    consumer = "nodes.consumers.EventsConsumer"
    joined = []

    async def accept_then_log_out(self, subprotocol=None):
        await AsyncJsonWebsocketConsumer.accept(self, subprotocol)
        response = await database_sync_to_async(tab.post)("/logout/")
        joined.append(response.status_code)

    monkeypatch.setattr(f"{consumer}.accept", accept_then_log_out)

    async def scenario():
        socket = browser_socket(cookie)
        connected, _ = await socket.connect()
        assert connected
        return await socket.receive_close(timeout=1)

    assert run(scenario) == 4401
    assert joined == [302]


def test_catch_up_from_the_last_event_id_seen(owner):
    node, _ = register_node(owner)
    cookie = session_cookie(owner.user)
    for _ in range(3):
        node_state_event(node_id=node.pk)
    ids = list(DockerEvent.objects.order_by("id").values_list("id", flat=True))

    async def scenario():
        socket = browser_socket(cookie, path=f"/ws/events/?org=acme&since={ids[1]}")
        assert (await socket.connect())[0]
        subscribed = await socket.receive_json_from()
        catchup = await socket.receive_json_from()
        recent, _ = await subscribed_recent()
        return subscribed, catchup, recent

    async def subscribed_recent():
        socket, _ = await subscribed(cookie, org="acme", node=str(node.uuid), recent=2)
        return await socket.receive_json_from(), None

    subscribed_frame, catchup, recent = run(scenario)
    assert subscribed_frame["last_id"] == ids[-1]
    assert catchup["catchup"] is True and catchup["truncated"] is False
    caught = [e["id"] for e in catchup["events"]]
    assert caught == sorted(caught) and set(ids[2:]) <= set(caught)  # + the overlap window
    assert [e["id"] for e in recent["events"]] == ids[-2:]


def test_bad_messages_get_errors_and_the_socket_stays(owner):
    cookie = session_cookie(owner.user)

    async def scenario():
        socket, frame = await subscribed(cookie, org=42)
        assert frame["type"] == "error"
        await socket.send_to(text_data="not json")
        assert (await socket.receive_json_from())["error"] == "unknown message type"
        await socket.send_json_to({"type": "subscribe", "org": "acme", "node": "nope"})
        assert (await socket.receive_json_from())["type"] == "error"
        await socket.send_json_to({"type": "ping"})
        assert await socket.receive_json_from() == {"type": "pong"}

    run(scenario)


def test_a_password_change_closes_the_users_portal_sockets_in_every_browser(owner, writer):
    """Alice changes her password because someone else is logged in as her: the other
    browser's live page stops at once, not at its next HTTP request."""
    tab = Client()
    tab.force_login(owner.user)
    intruder = session_cookie(owner.user)
    own_tab = tab.cookies["sessionid"].value
    bystander = session_cookie(writer.user)
    new = "a brand new passphrase 991"
    form = {"old_password": PASSWORD, "new_password1": new, "new_password2": new}

    async def scenario():
        theirs, _ = await subscribed(intruder, org="acme")
        mine, _ = await subscribed(own_tab, org="acme")
        kept, _ = await subscribed(bystander, org="acme")
        response = await database_sync_to_async(tab.post)("/password/change/", form)
        assert response.status_code == 302
        codes = [await s.receive_close(timeout=1) for s in (theirs, mine)]
        assert await kept.receive_nothing(timeout=0.2)
        return codes, await browser_socket(intruder).connect()

    codes, again = run(scenario)
    assert codes == [4401, 4401]
    assert again == (False, 4401)  # the old session no longer authenticates


def test_deactivating_a_user_closes_their_portal_sockets(owner, writer):
    cookie = session_cookie(writer.user)

    async def scenario():
        socket, _ = await subscribed(cookie, org="acme")
        await database_sync_to_async(account_services.user_deactivate)(
            actor=Actor(user=owner.user), user=writer.user
        )
        return await socket.receive_close(timeout=1)

    assert run(scenario) == 4401


def test_a_password_change_while_the_socket_connects_still_closes_it(owner, monkeypatch):
    cookie = session_cookie(owner.user)
    consumer = "nodes.consumers.EventsConsumer"

    async def accept_then_change_password(self, subprotocol=None):
        await AsyncJsonWebsocketConsumer.accept(self, subprotocol)
        await database_sync_to_async(account_services.user_password_set)(
            actor=Actor(user=owner.user), user=owner.user, password="a brand new passphrase 991"
        )

    monkeypatch.setattr(f"{consumer}.accept", accept_then_change_password)

    async def scenario():
        socket = browser_socket(cookie)
        assert (await socket.connect())[0]
        # The race is the point here, not the delay: hashing the new password inside the
        # handshake takes its time on a busy machine.
        return await socket.receive_close(timeout=5)

    assert run(scenario) == 4401


def test_subscribe_flood_closes_the_socket_with_a_reason(owner):
    """Each subscribe costs membership checks and a catch-up query: a page that sends them
    without pause is closed (4429, saying why), not served nor silently ignored."""
    cookie = session_cookie(owner.user)

    async def scenario():
        socket = browser_socket(cookie)
        assert (await socket.connect())[0]
        for _ in range(60):
            await socket.send_json_to({"type": "subscribe", "org": "nope"})
        while True:
            message = await socket.receive_output(3)
            if message["type"] == "websocket.close":
                return message
            assert json.loads(message["text"])["error"] == "not found"

    closed = run(scenario)
    assert closed["code"] == 4429 and "messages a second" in closed["reason"]


def test_a_huge_message_closes_the_socket_with_a_reason(owner):
    cookie = session_cookie(owner.user)

    async def scenario():
        socket = browser_socket(cookie)
        assert (await socket.connect())[0]
        await socket.send_json_to({"type": "subscribe", "org": "a" * 1_000_000})
        return await socket.receive_output(1)

    closed = run(scenario)
    assert closed["type"] == "websocket.close" and closed["code"] == 1009 and closed["reason"]


def test_a_page_within_the_limits_keeps_its_socket(owner):
    cookie = session_cookie(owner.user)

    async def scenario():
        socket, _ = await subscribed(cookie, org="acme", recent=0)
        for _ in range(3):  # a page pings now and then, well under the rate
            await socket.send_json_to({"type": "ping"})
            assert await socket.receive_json_from() == {"type": "pong"}
            await asyncio.sleep(0.25)
        for _ in range(10):  # and may subscribe to a few groups at once
            await socket.send_json_to({"type": "subscribe", "org": "acme", "recent": 0})
            assert (await socket.receive_json_from())["type"] == "subscribed"
        return await socket.receive_nothing(timeout=0.2)

    assert run(scenario)
