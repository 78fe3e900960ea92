"""The Docker Cloud-compatible streams: `/api/audit/v1/[ns/]events` and action logs."""

import base64
import json
import re
from datetime import timedelta
from io import StringIO

import pytest
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.core.management import call_command
from django.utils import timezone

from accounts import services as account_services
from accounts.audit import Actor
from accounts.models import ApiKey, AuditEntry
from nodes.transitions import actions, liveness
from tests.conftest import PASSWORD, make_key

from .conftest import agent_socket, api_socket, receive_until, register_node, run

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("layer")]
DATETIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def basic(username: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{secret}".encode()).decode()


def test_handshake_without_valid_credentials_is_a_401(owner):
    async def scenario():
        for auth in (None, basic("alice", "wrong"), "Bearer dck_nope", "Token nope"):
            socket = api_socket("/api/audit/v1/events", auth)
            assert await socket.connect() == (False, 401), auth
            assert json.loads(socket.denial_body)["error"]
            assert (b"www-authenticate", b'Basic realm="dockercloud"') in socket.denial["headers"]

    run(scenario)


def test_api_key_password_and_go_query_credentials_are_accepted(owner, outsider):
    async def scenario():
        paths = ["/api/audit/v1/events", "/api/audit/v1/events/", "/api/audit/v1/acme/events"]
        for path in paths:
            assert (await api_socket(path, basic("alice", owner.key)).connect())[0], path
        assert (await api_socket("/api/audit/v1/acme/events/", f"Token {owner.key}").connect())[0]
        assert (await api_socket("/api/audit/v1/events", basic("alice", PASSWORD)).connect())[0]
        go = api_socket(f"/api/audit/v1/acme/events?user=alice&token={owner.key}", None)
        assert (await go.connect())[0]
        # Another organization's namespace: not found, as on the REST API.
        foreign = api_socket("/api/audit/v1/acme/events", basic("carol", outsider.key))
        assert await foreign.connect() == (False, 404)

    run(scenario)


@pytest.mark.smoke
def test_node_container_and_action_changes_arrive_as_docker_cloud_frames(owner, outsider):
    node, secret = register_node(owner)
    auth, other = basic("alice", owner.key), basic("carol", outsider.key)

    async def scenario():
        stream = api_socket("/api/audit/v1/acme/events", auth)
        containers = api_socket("/api/audit/v1/acme/events/?type=container", auth)
        stranger = api_socket("/api/audit/v1/events", other)
        for socket in (stream, containers, stranger):
            assert (await socket.connect())[0]
        await database_sync_to_async(liveness.node_set_reached)(
            node_id=node.pk, connection="direct"
        )
        node_frame = await stream.receive_json_from()
        agent = agent_socket(node, secret)
        assert (await agent.connect())[0]
        await receive_until(agent, lambda f: f["type"] == "ack")
        events = [
            {"seq": 1, "type": "container", "action": "create", "actor": {"id": "abc"}},
            {"seq": 2, "type": "container", "action": "exec_create: sh", "actor": {"id": "abc"}},
            {"seq": 3, "type": "container", "action": "start", "actor": {"id": "abc"}},
            {"seq": 4, "type": "image", "action": "pull", "actor": {"id": "busybox"}},
            {"seq": 5, "type": "container", "action": "die", "actor": {"id": "abc"}},
        ]
        await agent.send_json_to({"type": "event", "events": events})
        container_frames = [await stream.receive_json_from() for _ in range(3)]
        filtered = [await containers.receive_json_from() for _ in range(3)]
        action = await database_sync_to_async(actions.action_create)(
            actor=Actor(user=owner.user),
            organization=owner.org,
            action="Node Upgrade",
            object_uri=f"/api/infra/v1/acme/node/{node.uuid}/",
        )
        await database_sync_to_async(actions.action_start)(action_id=action.pk)
        action_frames = [await stream.receive_json_from() for _ in range(2)]
        assert await stream.receive_nothing(timeout=0.2)
        assert await containers.receive_nothing(timeout=0.2)  # no node or action frames
        assert await stranger.receive_nothing(timeout=0.2)
        await agent.disconnect()
        return node_frame, container_frames, filtered, action_frames, action

    node_frame, container_frames, filtered, action_frames, action = run(scenario)
    node_uri = f"/api/infra/v1/acme/node/{node.uuid}/"
    assert set(node_frame) == {
        "type", "action", "parents", "resource_uri", "state", "uuid", "datetime",
    }  # fmt: skip
    assert node_frame["type"] == "node" and node_frame["action"] == "update"
    assert node_frame["resource_uri"] == node_uri and node_frame["state"] == "Deployed"
    assert node_frame["parents"] == [] and DATETIME.match(node_frame["datetime"])
    assert [(f["action"], f["state"]) for f in container_frames] == [
        ("create", "Stopped"),
        ("update", "Running"),
        ("update", "Stopped"),
    ]
    assert container_frames == filtered
    assert container_frames[0]["resource_uri"] == "/api/app/v1/acme/container/abc/"
    assert container_frames[0]["parents"] == [node_uri]
    assert [(f["type"], f["action"], f["state"]) for f in action_frames] == [
        ("action", "create", "Pending"),
        ("action", "update", "In progress"),
    ]
    assert action_frames[0]["resource_uri"] == f"/api/audit/v1/action/{action.uuid}/"
    assert action_frames[0]["parents"] == [node_uri]


def test_action_logs_tail_then_follow_until_the_action_ends(owner, outsider):
    action = actions.action_create(
        actor=Actor(user=owner.user), organization=owner.org, action="Node Deploy"
    )
    actions.action_start(action_id=action.pk)
    for n in range(1, 5):
        actions.action_log(action_id=action.pk, line=f"line {n}")
    auth = basic("alice", owner.key)
    logs = f"/api/audit/v1/action/{action.uuid}/logs/"

    async def frames_until_close(socket):
        out = []
        while True:
            message = await socket.receive_output(3)
            if message["type"] == "websocket.close":
                return out
            out.append(json.loads(message["text"]))

    async def scenario():
        tail = api_socket(f"{logs}?follow=false&tail=2", auth)
        assert (await tail.connect())[0]
        tailed = await frames_until_close(tail)
        namespaced = api_socket(f"/api/audit/v1/acme/action/{action.uuid}/logs?follow=false", auth)
        assert (await namespaced.connect())[0]
        everything = await frames_until_close(namespaced)
        foreign = api_socket(logs, basic("carol", outsider.key))
        assert await foreign.connect() == (False, 404)

        follow = api_socket(f"{logs}?tail=1", auth)
        assert (await follow.connect())[0]
        first = await follow.receive_json_from()
        await database_sync_to_async(actions.action_log)(action_id=action.pk, line="line 5")
        live = await follow.receive_json_from()
        await database_sync_to_async(actions.action_finish)(action_id=action.pk, success=True)
        rest = await frames_until_close(follow)
        return tailed, everything, first, live, rest

    tailed, everything, first, live, rest = run(scenario)
    assert [f["log"] for f in tailed] == ["line 3", "line 4"]
    assert all(set(f) == {"type", "log", "timestamp"} and f["type"] == "log" for f in tailed)
    assert [f["log"] for f in everything] == ["line 1", "line 2", "line 3", "line 4"]
    assert first["log"] == "line 4" and live["log"] == "line 5" and rest == []


# --- a stream ends with its credential ---------------------------------------------------------
EVENTS = "/api/audit/v1/acme/events"


async def closes_within(socket, seconds: float) -> int:
    """The close code of `socket`, which must close within `seconds`."""
    return await socket.receive_close(timeout=seconds)


def streams_of(username: str, key: str, action) -> list:
    """Every way a client holds a stream open with `key`: Basic, Token, the Go SDK's query
    credentials, and a followed action log."""
    logs = f"/api/audit/v1/action/{action.uuid}/logs/?follow=true"
    return [
        api_socket(EVENTS, basic(username, key)),
        api_socket(EVENTS, f"Token {key}"),
        api_socket(f"{EVENTS}?user={username}&token={key}", None),
        api_socket(logs, f"Bearer {key}"),
    ]


def running_action(person):
    action = actions.action_create(
        actor=Actor(user=person.user), organization=person.org, action="Node Deploy"
    )
    actions.action_start(action_id=action.pk)
    return action


def test_revoking_a_key_closes_its_streams_at_once_and_no_others(owner, writer):
    """The key leaked and its owner revoked it over the API: whoever held streams open with
    it stops receiving within a second. The owner's other key and other users keep theirs."""
    action = running_action(owner)
    other_key = make_key(owner.user, label="other")
    key_uuid = ApiKey.objects.get(user=owner.user, label="test").uuid

    async def scenario():
        stolen = streams_of("alice", owner.key, action)
        kept = [
            api_socket(EVENTS, basic("alice", other_key)),
            api_socket(EVENTS, basic("alice", PASSWORD)),
            api_socket(EVENTS, basic("dave", writer.key)),
        ]
        for socket in stolen + kept:
            assert (await socket.connect())[0]
        revoke = database_sync_to_async(owner.client(other_key).delete)
        assert (await revoke(f"/api/v1/user/apikeys/{key_uuid}/")).status_code == 204
        codes = [await closes_within(socket, 1) for socket in stolen]
        for socket in kept:
            assert await socket.receive_nothing(timeout=0.2)
        again = await api_socket(EVENTS, basic("alice", owner.key)).connect()
        return codes, again

    codes, again = run(scenario)
    assert codes == [4401] * 4
    assert again == (False, 401)


def test_a_key_that_expires_while_its_stream_is_open_closes_it_on_time(owner):
    expires = timezone.now() + timedelta(seconds=1.5)
    key = make_key(owner.user, label="short", expires_at=expires)
    action = running_action(owner)

    async def scenario():
        sockets = streams_of("alice", key, action)
        for socket in sockets:
            assert (await socket.connect())[0]
        early = (expires - timezone.now()).total_seconds() - 0.3
        assert await sockets[0].receive_nothing(timeout=early)  # open until it expires
        codes = [await socket.receive_close(timeout=2) for socket in sockets]
        return codes, timezone.now()

    codes, closed_at = run(scenario)
    assert codes == [4401] * 4
    assert expires <= closed_at <= expires + timedelta(seconds=1)


def test_a_password_change_closes_every_stream_of_the_user(owner, writer, client):
    """Streams opened with the old password and with the user's keys close; another user's
    stay. (The keys themselves stay valid: a client reconnects with its key.)"""
    action = running_action(owner)
    client.force_login(owner.user)
    new = "a brand new passphrase 991"
    form = {"old_password": PASSWORD, "new_password1": new, "new_password2": new}

    async def scenario():
        closing = [
            *streams_of("alice", owner.key, action),
            api_socket(EVENTS, basic("alice", PASSWORD)),
        ]
        kept = api_socket(EVENTS, basic("dave", writer.key))
        for socket in [*closing, kept]:
            assert (await socket.connect())[0]
        response = await database_sync_to_async(client.post)("/password/change/", form)
        assert response.status_code == 302
        codes = [await closes_within(socket, 1) for socket in closing]
        assert await kept.receive_nothing(timeout=0.2)
        old = await api_socket(EVENTS, basic("alice", PASSWORD)).connect()
        return codes, old

    codes, old = run(scenario)
    assert codes == [4401] * 5
    assert old == (False, 401)
    assert AuditEntry.objects.filter(action="user.password_change", actor=owner.user).exists()


def test_deactivating_a_user_closes_every_stream_of_theirs(owner, writer):
    action = running_action(owner)

    async def scenario():
        closing = [
            *streams_of("alice", owner.key, action),
            api_socket(EVENTS, basic("alice", PASSWORD)),
        ]
        kept = api_socket(EVENTS, basic("dave", writer.key))
        for socket in [*closing, kept]:
            assert (await socket.connect())[0]
        await database_sync_to_async(call_command)("deactivate_user", "alice", stdout=StringIO())
        codes = [await closes_within(socket, 1) for socket in closing]
        assert await kept.receive_nothing(timeout=0.2)
        return codes, await api_socket(EVENTS, basic("alice", owner.key)).connect()

    codes, again = run(scenario)
    assert codes == [4401] * 5
    assert again == (False, 401)


def test_a_key_revoked_while_the_stream_connects_still_closes_it(owner, monkeypatch):
    """Revoked after the handshake checked the key and before the socket joined the group
    that carries the close: it is closed all the same."""
    key = ApiKey.objects.get(user=owner.user)
    consumer = "nodes.consumers.DockerCloudEventsConsumer"

    async def accept_then_revoke(self, subprotocol=None):
        await AsyncWebsocketConsumer.accept(self, subprotocol)
        await database_sync_to_async(account_services.apikey_revoke)(
            actor=Actor(user=owner.user), key=key
        )

    monkeypatch.setattr(f"{consumer}.accept", accept_then_revoke)

    async def scenario():
        socket = api_socket(EVENTS, basic("alice", owner.key))
        assert (await socket.connect())[0]
        return await socket.receive_close(timeout=5)  # the race is the point, not the delay

    assert run(scenario) == 4401


# --- bounded input ---------------------------------------------------------------------------
def test_a_stream_flooded_with_messages_is_closed_with_a_reason(owner):
    async def scenario():
        socket = api_socket(EVENTS, basic("alice", owner.key))
        assert (await socket.connect())[0]
        for _ in range(40):
            await socket.send_to("x")
        return await socket.receive_output(1)

    closed = run(scenario)
    assert closed["type"] == "websocket.close" and closed["code"] == 4429
    assert "messages a second" in closed["reason"]


def test_a_stream_sent_a_huge_message_is_closed_with_a_reason(owner):
    async def scenario():
        socket = api_socket(EVENTS, basic("alice", owner.key))
        assert (await socket.connect())[0]
        await socket.send_to("x" * 100_000)
        return await socket.receive_output(1)

    closed = run(scenario)
    assert closed["type"] == "websocket.close" and closed["code"] == 1009
    assert closed["reason"]


def test_deleting_a_service_account_closes_the_streams_of_its_keys(owner):
    actor = Actor(user=owner.user)
    account = account_services.service_account_create(
        actor=actor, organization=owner.org, name="deploybot"
    )
    key = make_key(account, label="ci")

    async def scenario():
        socket = api_socket(EVENTS, basic(account.username, key))
        assert (await socket.connect())[0]
        await database_sync_to_async(account_services.service_account_delete)(
            actor=actor, account=account
        )
        return await closes_within(socket, 1)

    assert run(scenario) == 4401
