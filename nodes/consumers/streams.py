"""The Docker Cloud-compatible streams (API credentials, as the REST API takes them).

- `/api/audit/v1/[ns/]events[/]`: Docker Cloud frames of the namespace.
- `/api/audit/v1/[ns/]action/<uuid>/logs[/]?follow=&tail=`: an action's log.

A stream closes (4401) when its key is revoked or expires, or its user changes password or is
deactivated (GuardedSocketMixin), and (4403) when the user leaves the organization.
"""

import json

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.http import Http404

from accounts.permissions import access_for
from accounts.selectors import namespace_access
from accounts.wsauth import ApiCaller, api_caller, caller_still_valid
from core.loops import remember_server_loop
from realtime.consumers import CLOSE_REMOVED, DirectDispatchMixin, GuardedSocketMixin, query_int
from realtime.emit import EVENTS_LAYER
from realtime.groups import group_for_action, group_for_member, group_for_org
from realtime.payloads import DockerCloudFrame, LogFrame, batch_events
from realtime.scope import query

from .. import selectors
from ..events.render import dockercloud_frame
from ..models import FINAL_ACTION_STATES

DEFAULT_TAIL = 300


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


def log_stream_params(scope) -> tuple[bool, int | None]:
    """`follow` (default true) and `tail` of a log stream's query, as Docker Cloud's clients
    send them (action logs, container logs)."""
    params = query(scope)
    follow = params.get("follow", "true").lower() not in ("false", "0", "no")
    return follow, query_int(params.get("tail"))


class DockerCloudConsumer(GuardedSocketMixin, DirectDispatchMixin, AsyncWebsocketConsumer):
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

    async def join(self, caller: ApiCaller, *groups: str) -> bool:
        """Join the stream's groups and those that close it when its credential dies; False
        if that credential died before the socket listened (then it is closed)."""
        self.joined = groups
        for group in groups:
            await self.channel_layer.group_add(group, self.channel_name)
        return await self.watch_credentials(
            user_id=caller.user.pk,
            key=caller.api_key,
            still_valid=lambda: database_sync_to_async(caller_still_valid)(caller),
        )

    async def membership_removed(self, message):
        await self.end(CLOSE_REMOVED, "no longer a member")


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
        await self.join(caller, group_for_org(org.pk), group_for_member(org.pk, caller.user.pk))

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
        follow, tail = log_stream_params(self.scope)
        status, action, caller = await _action(self.scope, kwargs.get("ns"), kwargs["uuid"])
        if status != 200:
            await self.deny(status, "Not Authorized" if status == 401 else "Not found")
            return
        await self.accept()
        if follow:  # before reading the log: no line can fall between the two
            joined = await self.join(
                caller,
                group_for_action(action.organization_id, action.pk),
                group_for_member(action.organization_id, caller.user.pk),
            )
            if not joined:
                return
        snapshot = await _action_snapshot(action.pk, caller)
        if snapshot is None:
            await self.end(1000)
            return
        logs, state, started = snapshot
        self.snapshot_end = len(logs)
        lines = logs.splitlines()
        count = DEFAULT_TAIL if tail is None else tail
        for line in lines[max(len(lines) - count, 0) :]:
            await self.send_log(line, int(started.timestamp()))
        if not follow or state in FINAL_ACTION_STATES:
            await self.end(1000)

    async def send_log(self, line: str, timestamp: int) -> None:
        frame: LogFrame = {"type": "log", "log": line, "timestamp": timestamp}
        await self.send(text_data=json.dumps(frame))

    async def action_log(self, message):
        if message["end"] > self.snapshot_end:
            await self.send_log(message["log"], message["timestamp"])

    async def action_end(self, message):
        await self.end(1000)
