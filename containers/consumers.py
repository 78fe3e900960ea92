"""`/api/app/v1/[ns/]container/<uuid>/logs[/]?follow=&tail=`: a container's output, as the
Docker Cloud SDK's `StreamingLog` reads it (frames `{"type": "log", "log", "timestamp",
"streamType"}`).

The lines are read from the node's daemon in bounded pieces (`containers.logs`); following
reads what came after the last line sent, once per FOLLOW_INTERVAL, until the client leaves,
the container ends, or the caller's credential dies (GuardedSocketMixin).
"""

import asyncio
import json

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.db import connections
from django.http import Http404

from accounts.permissions import can
from accounts.selectors import namespace_access
from accounts.wsauth import api_caller
from core.loops import remember_server_loop
from nodes.consumers.streams import DockerCloudConsumer, log_stream_params
from nodes.docker_client import prepare
from realtime.groups import group_for_member

from . import selectors
from .logs import MAX_TAIL, container_logs
from .models import Container, ContainerState
from .runtime import RuntimeFailure

DEFAULT_TAIL = 300
FOLLOW_INTERVAL = 1.0


@database_sync_to_async
def _find(scope, ns: str | None, uuid):
    """(status, container, caller)."""
    caller = api_caller(scope)
    if caller is None:
        return 401, None, None
    try:
        access = namespace_access(caller.as_request(), ns)
        if not can(access, "view"):
            raise Http404
        container = selectors.container_get(organization=access.organization, uuid=uuid)
    except Http404:
        return 404, None, caller
    return 200, container, caller


@database_sync_to_async
def _fresh(container: Container) -> Container | None:
    """The container now (a redeploy changes its node and id), with its node's TLS files."""
    found = selectors.container_by_id(container_id=container.pk)
    if found is not None and found.docker_id:
        prepare(found.node)
    return found


def _read(container: Container, tail: int, since) -> list[dict]:
    try:
        return container_logs(container, tail=tail, since=since)
    finally:
        connections.close_all()  # this worker thread's only


class ContainerLogConsumer(DockerCloudConsumer):
    async def connect(self):
        remember_server_loop()
        kwargs = self.scope["url_route"]["kwargs"]
        follow, tail = log_stream_params(self.scope)
        status, container, caller = await _find(self.scope, kwargs.get("ns"), kwargs["uuid"])
        if status != 200:
            await self.deny(status, "Not Authorized" if status == 401 else "Not found")
            return
        await self.accept()
        org_id = container.organization_id
        if not await self.join(caller, group_for_member(org_id, caller.user.pk)):
            return
        count = min(DEFAULT_TAIL if tail is None else tail, MAX_TAIL)
        self.reader = asyncio.ensure_future(self._stream(container, count, follow))

    async def disconnect(self, code):
        reader = getattr(self, "reader", None)
        if reader is not None:
            reader.cancel()
        await super().disconnect(code)

    async def _stream(self, container: Container, tail: int, follow: bool) -> None:
        last = None
        while not self.ended:
            current = await _fresh(container)
            if current is None:
                break
            try:
                lines = await sync_to_async(_read, thread_sensitive=False)(
                    current, tail if last is None else MAX_TAIL, last
                )
            except RuntimeFailure as exc:
                await self.send(text_data=json.dumps({"type": "error", "log": str(exc)}))
                break
            for line in lines:
                frame = {k: v for k, v in line.items() if k != "key"}
                await self.send(text_data=json.dumps({"type": "log", **frame}))
                last = line["key"]
            if last is None and current.docker_id:
                last = (0, 0)  # nothing yet: from now on, everything is new
            if not follow or current.state == ContainerState.TERMINATED:
                break
            await asyncio.sleep(FOLLOW_INTERVAL)
        await self.end(1000)
