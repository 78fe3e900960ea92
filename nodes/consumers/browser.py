"""Live streams for people: the portal's events socket and the Docker Cloud-compatible streams.

- `/ws/events/` (browsers, session): `subscribe {org, node?, since?, recent?}` joins the
  organization's or the node's group after the same membership check as the REST API, then
  catches up from `since` (the last event id the page saw). Joining also puts the socket in
  the member's group: `membership.removed` closes it. Every socket is also in its session's
  group: logging out (`session_sockets_close`) closes the sockets that session opened.
- `/api/audit/v1/[ns/]events[/]` (API headers): Docker Cloud frames of the namespace.
- `/api/audit/v1/[ns/]action/<uuid>/logs[/]?follow=&tail=` (API headers): an action's log.

Agents have their own consumer and authentication (agentapi/consumers.py).
"""

import json
import logging
import uuid as uuid_module
from dataclasses import dataclass

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer, AsyncWebsocketConsumer
from django.http import Http404

from accounts.permissions import access_for
from accounts.selectors import organization_access
from core.dockercloud import namespace_access
from core.loops import remember_server_loop

from . import selectors
from .events import selectors as event_selectors
from .events.emit import EVENTS_LAYER, emit_on_commit
from .events.render import dockercloud_frame, stored_payload
from .events.wsauth import ApiCaller, api_caller, query, same_origin
from .groups import (
    group_for_action,
    group_for_member,
    group_for_node,
    group_for_org,
    group_for_session,
)
from .models import FINAL_ACTION_STATES
from .payloads import (
    DockerCloudFrame,
    ErrorFrame,
    EventsFrame,
    LogFrame,
    SubscribedFrame,
    batch_events,
)

log = logging.getLogger(__name__)
CLOSE_UNAUTHORIZED = 4401
CLOSE_REMOVED = 4403
CLOSE_NOT_FOUND = 4404
MAX_SUBSCRIPTIONS = 20
MAX_RECENT = 100
MAX_NODE_STATES = 500
DEFAULT_TAIL = 300


class DirectDispatchMixin:
    """Dispatch without Channels' per-message `close_old_connections` (4.2+ runs it in the
    sync thread before every message, a thread hop shared by all sockets of the process).

    Consumers using this touch the database only through `database_sync_to_async`, which
    closes stale connections itself; the hop was most of the cost of a busy events socket.
    """

    async def dispatch(self, message):
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)


def _uuid(value) -> uuid_module.UUID | None:
    try:
        return uuid_module.UUID(str(value))
    except ValueError:
        return None


# --- browser subscriptions ------------------------------------------------------------------
def session_sockets_close(*, session_key: str) -> None:
    """After the commit, close the portal sockets opened with this session (it logged out):
    another tab of it stops receiving. Its other sessions (other browsers) keep theirs."""
    emit_on_commit(group_for_session(session_key), {"type": "session.ended"})


@dataclass(frozen=True)
class Subscription:
    org_id: int
    org_name: str
    node_id: int | None
    node_uuid: str | None

    @property
    def group(self) -> str:
        if self.node_id is None:
            return group_for_org(self.org_id)
        return group_for_node(self.org_id, self.node_id)


def _scope(user, org_name: str, node_uuid: str | None):
    """(organization, node) the user may view, or Http404."""
    access = organization_access(request=ApiCaller(user, None).as_request(), name=org_name)
    if not access.can("view"):
        raise Http404
    org = access.organization
    node = selectors.node_get(organization=org, uuid=node_uuid) if node_uuid else None
    return org, node


@database_sync_to_async
def _resolve(user, org_name: str, node_uuid: str | None) -> Subscription | None:
    try:
        org, node = _scope(user, org_name, node_uuid)
    except Http404:
        return None
    return Subscription(org.pk, org.name, node.pk if node else None, node_uuid)


@database_sync_to_async
def _catchup(user, sub: Subscription, since: int | None, recent: int) -> tuple:
    """(subscribed frame, events frame) read after the socket joined the group."""
    try:
        org, node = _scope(user, sub.org_name, sub.node_uuid)  # checked again: it may be gone
    except Http404:
        return None, None
    truncated = False
    if since is not None:
        rows, truncated = event_selectors.events_catchup(
            organization=org, node=node, after_id=since
        )
    else:
        rows = event_selectors.events_recent(organization=org, node=node, limit=recent)
    nodes = [node] if node else selectors.nodes_list(organization=org)[:MAX_NODE_STATES]
    subscribed: SubscribedFrame = {
        "type": "subscribed",
        "org": org.name,
        "node": sub.node_uuid,
        "nodes": [{"uuid": str(n.uuid), "state": n.state} for n in nodes],
        "last_id": event_selectors.last_event_id(organization=org, node=node),
    }
    events: EventsFrame = {
        "type": "events",
        "events": [stored_payload(row) for row in rows],
        "catchup": True,
        "truncated": truncated,
    }
    return subscribed, events


class EventsConsumer(DirectDispatchMixin, AsyncJsonWebsocketConsumer):
    """`/ws/events/`: live events and state changes for portal pages (session auth)."""

    channel_layer_alias = EVENTS_LAYER

    async def connect(self):
        remember_server_loop()
        self.subscriptions: dict[str, Subscription] = {}
        self.member_groups: set[str] = set()  # groups that close it: session, memberships
        self.user = self.scope.get("user")
        if not getattr(self.user, "is_authenticated", False) or not same_origin(self.scope):
            await self.close(code=CLOSE_UNAUTHORIZED)  # before accept: HTTP 403
            return
        params = query(self.scope)
        first = None
        if params.get("org"):  # a subscription in the URL is checked before accepting
            first = await _resolve(self.user, params["org"], params.get("node") or None)
            if first is None:
                await self.close(code=CLOSE_NOT_FOUND)
                return
        await self.accept()
        # Logging this session out closes the socket (session_sockets_close).
        session = self.scope["session"]
        session_group = group_for_session(session.session_key)
        self.member_groups.add(session_group)
        await self.channel_layer.group_add(session_group, self.channel_name)
        # A logout after the check above sent its close before this socket listened: look
        # again, now that it does.
        if not await database_sync_to_async(session.exists)(session.session_key):
            await self.close(code=CLOSE_UNAUTHORIZED)
            return
        if first is not None:
            await self._join(first, _int(params.get("since")), _recent(params.get("recent")))

    async def disconnect(self, code):
        for group in {s.group for s in getattr(self, "subscriptions", {}).values()} | getattr(
            self, "member_groups", set()
        ):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive_json(self, content, **kwargs):
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "subscribe":
            await self._subscribe(content)
        elif kind == "unsubscribe":
            await self._unsubscribe(content)
        elif kind == "ping":
            await self.send_json({"type": "pong"})
        else:
            await self._error("unknown message type", None, None)

    async def decode_json(self, text_data):
        try:
            return await super().decode_json(text_data)
        except ValueError:
            return None

    async def _subscribe(self, content: dict) -> None:
        org, node = content.get("org"), content.get("node") or None
        if not isinstance(org, str) or (node is not None and _uuid(node) is None):
            await self._error("subscribe needs an organization name and optionally a node uuid")
            return
        if len(self.subscriptions) >= MAX_SUBSCRIPTIONS:
            await self._error("too many subscriptions on this socket", org, node)
            return
        sub = await _resolve(self.user, org, node)
        if sub is None:
            await self._error("not found", org, node)  # not a member: same as absent
            return
        await self._join(sub, _int(content.get("since")), _recent(content.get("recent")))

    async def _join(self, sub: Subscription, since: int | None, recent: int) -> None:
        member = group_for_member(sub.org_id, self.user.pk)
        await self.channel_layer.group_add(member, self.channel_name)
        await self.channel_layer.group_add(sub.group, self.channel_name)
        self.member_groups.add(member)
        self.subscriptions[f"{sub.org_name}/{sub.node_uuid or ''}"] = sub
        subscribed, events = await _catchup(self.user, sub, since, recent)
        if subscribed is None:  # removed between the two reads
            await self.close(code=CLOSE_REMOVED)
            return
        await self.send_json(subscribed)
        if events["events"] or since is not None:
            await self.send_json(events)

    async def _unsubscribe(self, content: dict) -> None:
        key = f"{content.get('org')}/{content.get('node') or ''}"
        sub = self.subscriptions.pop(key, None)
        if sub is not None and sub.group not in {s.group for s in self.subscriptions.values()}:
            await self.channel_layer.group_discard(sub.group, self.channel_name)

    async def _error(self, message: str, org=None, node=None) -> None:
        frame: ErrorFrame = {"type": "error", "error": message, "org": org, "node": node}
        await self.send_json(frame)

    # --- group messages -------------------------------------------------------------------
    async def events_batch(self, message):
        # An EventsFrame, with the events as the sender serialized them.
        head = '{"type":"events","catchup":false,"truncated":false,"events":'
        await self.send(text_data=head + message["events_json"] + "}")

    async def membership_removed(self, message):
        await self.close(code=CLOSE_REMOVED)

    async def session_ended(self, message):
        await self.close(code=CLOSE_UNAUTHORIZED)


def _int(value) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number >= 0 else None


def _recent(value) -> int:
    number = _int(value)
    return min(number, MAX_RECENT) if number is not None else 20


# --- Docker Cloud streams (API credentials) ----------------------------------------------------
@database_sync_to_async
def _namespace(scope, ns: str | None):
    """(caller, organization) or the HTTP status refusing the handshake."""
    caller = api_caller(scope)
    if caller is None:
        return 401, None, None
    try:
        access = namespace_access(caller.as_request(), ns)
    except Http404:
        return 404, caller, None
    return 200, caller, access.organization


class DockerCloudConsumer(DirectDispatchMixin, AsyncWebsocketConsumer):
    """Shared by the Docker Cloud streams: refuse the handshake like the REST API would."""

    channel_layer_alias = EVENTS_LAYER

    async def deny(self, status: int, error: str) -> None:
        if "websocket.http.response" not in self.scope.get("extensions", {}):
            await self.close()  # the server answers 403
            return
        body = json.dumps({"error": error}).encode()
        headers = [(b"content-type", b"application/json")]
        if status == 401:
            headers.append((b"www-authenticate", b'Basic realm="dockercloud"'))
        await self.base_send(
            {"type": "websocket.http.response.start", "status": status, "headers": headers}
        )
        await self.base_send({"type": "websocket.http.response.body", "body": body})

    async def disconnect(self, code):
        for group in getattr(self, "joined", ()):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def join(self, *groups: str) -> None:
        self.joined = groups
        for group in groups:
            await self.channel_layer.group_add(group, self.channel_name)

    async def membership_removed(self, message):
        await self.close(code=CLOSE_REMOVED)


class StreamFilter:
    """The stream's query filters: `type`, `object` (a resource URI), `parent`/`parents`."""

    def __init__(self, params: dict[str, str]):
        def split(name: str) -> set[str]:
            return {v for v in params.get(name, "").split(",") if v}

        self.types = split("type")
        self.objects = split("object")
        self.parents = split("parent") | split("parents")

    def __call__(self, frame: DockerCloudFrame) -> bool:
        if self.types and frame["type"] not in self.types:
            return False
        if self.objects and frame["resource_uri"] not in self.objects:
            return False
        return not self.parents or bool(self.parents & set(frame["parents"]))


class DockerCloudEventsConsumer(DockerCloudConsumer):
    """`/api/audit/v1/[ns/]events[/]`: node, node cluster, action and container changes."""

    async def connect(self):
        remember_server_loop()
        ns = self.scope["url_route"]["kwargs"].get("ns")
        status, caller, org = await _namespace(self.scope, ns)
        if status != 200:
            await self.deny(status, "Not Authorized" if status == 401 else "Not found")
            return
        self.wanted = StreamFilter(query(self.scope))
        await self.accept()
        await self.join(group_for_org(org.pk), group_for_member(org.pk, caller.user.pk))

    async def events_batch(self, message):
        for event in batch_events(message):
            frame = dockercloud_frame(event)
            if frame is not None and self.wanted(frame):
                await self.send(text_data=json.dumps(frame))


@database_sync_to_async
def _action(scope, ns: str | None, action_uuid):
    """(status, action, caller). REST never namespaces actions: without `ns`, any
    organization of the caller's."""
    caller = api_caller(scope)
    if caller is None:
        return 401, None, None
    actions = selectors.actions_for_user(user=caller.user, api_key=caller.api_key)
    if ns:
        try:
            org = namespace_access(caller.as_request(), ns).organization
        except Http404:
            return 404, None, caller
        actions = actions.filter(organization=org)
    action = actions.select_related("organization").filter(uuid=action_uuid).first()
    if action is None:
        return 404, None, caller
    try:
        access_for(user=caller.user, organization=action.organization, api_key=caller.api_key)
    except Http404:
        return 404, None, caller
    return 200, action, caller


@database_sync_to_async
def _action_snapshot(action_id: int, caller: ApiCaller):
    action = (
        selectors.actions_for_user(user=caller.user, api_key=caller.api_key)
        .filter(pk=action_id)
        .first()
    )
    return (action.logs, action.state, action.start_date or action.created) if action else None


class ActionLogConsumer(DockerCloudConsumer):
    """`/api/audit/v1/[ns/]action/<uuid>/logs/?follow=true|false&tail=N`."""

    async def connect(self):
        remember_server_loop()
        kwargs = self.scope["url_route"]["kwargs"]
        params = query(self.scope)
        follow = params.get("follow", "true").lower() not in ("false", "0", "no")
        tail = _int(params.get("tail"))
        status, action, caller = await _action(self.scope, kwargs.get("ns"), kwargs["uuid"])
        if status != 200:
            await self.deny(status, "Not Authorized" if status == 401 else "Not found")
            return
        await self.accept()
        if follow:  # before reading the log: no line can fall between the two
            await self.join(
                group_for_action(action.organization_id, action.pk),
                group_for_member(action.organization_id, caller.user.pk),
            )
        snapshot = await _action_snapshot(action.pk, caller)
        if snapshot is None:
            await self.close()
            return
        logs, state, started = snapshot
        self.snapshot_end = len(logs)
        lines = logs.splitlines()
        count = DEFAULT_TAIL if tail is None else tail
        for line in lines[max(len(lines) - count, 0) :]:
            await self.send_log(line, int(started.timestamp()))
        if not follow or state in FINAL_ACTION_STATES:
            await self.close()

    async def send_log(self, line: str, timestamp: int) -> None:
        frame: LogFrame = {"type": "log", "log": line, "timestamp": timestamp}
        await self.send(text_data=json.dumps(frame))

    async def action_log(self, message):
        if message["end"] > self.snapshot_end:
            await self.send_log(message["log"], message["timestamp"])

    async def action_end(self, message):
        await self.close()
