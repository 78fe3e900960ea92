"""`/ws/events/` (browsers, session): live events and state changes for portal pages.

`subscribe {org, node?, since?, recent?}` joins the organization's or the node's group after
the same membership check as the REST API, then catches up from `since` (the last event id the
page saw). Joining also puts the socket in the member's group: `membership.removed` closes it.
Every socket is also in its session's group (logging out closes the sockets that session
opened: `accounts.services.session_sockets_close`) and its user's (a password change or
deactivation closes them).
"""

import logging
import uuid as uuid_module
from dataclasses import dataclass

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.http import Http404

from accounts.permissions import can
from accounts.selectors import organization_access
from accounts.wsauth import ApiCaller, session_still_valid
from core.loops import remember_server_loop
from realtime.consumers import (
    CLOSE_NOT_FOUND,
    CLOSE_REMOVED,
    CLOSE_UNAUTHORIZED,
    DirectDispatchMixin,
    GuardedSocketMixin,
    query_int,
)
from realtime.emit import EVENTS_LAYER
from realtime.groups import group_for_member, group_for_node, group_for_org, group_for_session
from realtime.payloads import ErrorFrame, EventsFrame, SubscribedFrame
from realtime.scope import query, same_origin

from .. import selectors
from ..events import selectors as event_selectors
from ..events.render import stored_payload

log = logging.getLogger(__name__)
MAX_SUBSCRIPTIONS = 20
MAX_RECENT = 100
MAX_NODE_STATES = 500


def _uuid(value) -> uuid_module.UUID | None:
    try:
        return uuid_module.UUID(str(value))
    except ValueError:
        return None


# --- browser subscriptions ------------------------------------------------------------------
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
    if not can(access, "view"):
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


class EventsConsumer(GuardedSocketMixin, DirectDispatchMixin, AsyncJsonWebsocketConsumer):
    """`/ws/events/`: live events and state changes for portal pages (session auth)."""

    channel_layer_alias = EVENTS_LAYER

    async def connect(self):
        remember_server_loop()
        self.subscriptions: dict[str, Subscription] = {}
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
        # Logging this session out closes the socket (session_sockets_close); a password
        # change or deactivation, its user's group.
        session = self.scope["session"]
        await self.join_closer(group_for_session(session.session_key))
        # A logout or password change after the check above sent its close before this socket
        # listened: look again, now that it does.
        valid = await self.watch_credentials(
            user_id=self.user.pk,
            still_valid=lambda: database_sync_to_async(session_still_valid)(session, self.user),
        )
        if valid and first is not None:
            await self._join(first, query_int(params.get("since")), _recent(params.get("recent")))

    async def disconnect(self, code):
        for group in {s.group for s in getattr(self, "subscriptions", {}).values()}:
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
        await self._join(sub, query_int(content.get("since")), _recent(content.get("recent")))

    async def _join(self, sub: Subscription, since: int | None, recent: int) -> None:
        await self.join_closer(group_for_member(sub.org_id, self.user.pk))
        await self.channel_layer.group_add(sub.group, self.channel_name)
        self.subscriptions[f"{sub.org_name}/{sub.node_uuid or ''}"] = sub
        subscribed, events = await _catchup(self.user, sub, since, recent)
        if subscribed is None:  # removed between the two reads
            await self.end(CLOSE_REMOVED, "no longer a member")
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
        await self.end(CLOSE_REMOVED, "no longer a member")

    async def session_ended(self, message):
        await self.end(CLOSE_UNAUTHORIZED, "signed out")


def _recent(value) -> int:
    number = query_int(value)
    return min(number, MAX_RECENT) if number is not None else 20
