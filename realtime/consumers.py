"""What every socket for people shares: direct dispatch, bounded input, and closing when the
credential it was opened with stops being valid."""

import asyncio
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from channels.consumer import get_handler_name
from django.utils import timezone

from core.ratelimit import TokenBucket

from .groups import group_for_apikey, group_for_user

CLOSE_TOO_BIG = 1009  # RFC 6455: a message too big to process
CLOSE_UNAUTHORIZED = 4401
CLOSE_REMOVED = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_TOO_MANY = 4429
# A subscribe frame is under 200 characters; the Docker Cloud streams expect none at all.
MAX_MESSAGE = 4096
# Messages a socket may send: a page subscribes to a handful of groups, then pings.
MESSAGE_RATE = 5.0  # a second, on average
MESSAGE_BURST = 20
# Expiry is a wall-clock time and the loop's timers are monotonic: wake at least this often to
# read the clock again, so a clock step does not keep an expired key's socket open.
EXPIRY_RECHECK = 60.0


def query_int(value) -> int | None:
    """A non-negative integer from a query parameter or a message field, else None."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number >= 0 else None


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


class _GroupLayer(Protocol):
    async def group_add(self, group: str, channel: str) -> None: ...

    async def group_discard(self, group: str, channel: str) -> None: ...


if TYPE_CHECKING:

    class _WebsocketConsumer:
        """What GuardedSocketMixin uses of channels' AsyncWebsocketConsumer, which it is always
        mixed into: channels publishes no types, so the checker knows nothing of it."""

        channel_layer: _GroupLayer
        channel_name: str

        async def close(self, code: int | None = None, reason: str | None = None) -> None: ...

        async def websocket_connect(self, message: dict[str, Any]) -> None: ...

        async def websocket_receive(self, message: dict[str, Any]) -> None: ...

        async def websocket_disconnect(self, message: dict[str, Any]) -> None: ...

else:
    _WebsocketConsumer = object


class GuardedSocketMixin(_WebsocketConsumer):
    """Browser and API stream sockets.

    - Input is bounded: a message over MAX_MESSAGE closes the socket (1009), and past
      MESSAGE_RATE a second (MESSAGE_BURST at once) it closes with 4429. The closing frame
      says why; nothing is dropped silently.
    - `watch_credentials` puts the socket in its user's group and, when opened with an API
      key, the key's: revoking the key, changing the password or deactivating the user sends
      `credentials.revoked` there (accounts.services.sockets_close), from any process, and
      the socket closes with 4401. A key's expiry closes it on time, by a timer.
    """

    async def websocket_connect(self, message: dict[str, Any]) -> None:
        self.bucket = TokenBucket(rate=MESSAGE_RATE, burst=MESSAGE_BURST)
        self.closers: set[str] = set()
        self.expiry: asyncio.Task | None = None
        self.ended = False
        await super().websocket_connect(message)

    async def websocket_receive(self, message: dict[str, Any]) -> None:
        if self.ended:
            return
        data = message.get("text")
        if data is None:
            data = message.get("bytes") or b""
        if len(data) > MAX_MESSAGE:
            await self.end(CLOSE_TOO_BIG, f"message longer than {MAX_MESSAGE}")
        elif not self.bucket.take():
            await self.end(CLOSE_TOO_MANY, f"more than {MESSAGE_RATE:g} messages a second")
        else:
            await super().websocket_receive(message)

    async def websocket_disconnect(self, message: dict[str, Any]) -> None:
        if self.expiry is not None:
            self.expiry.cancel()
        for group in self.closers:
            await self.channel_layer.group_discard(group, self.channel_name)
        await super().websocket_disconnect(message)

    async def end(self, code: int, reason: str = "") -> None:
        """Close once with a reason (a second close would be a protocol error)."""
        if self.ended:
            return
        self.ended = True
        await self.close(code=code, reason=reason)

    async def join_closer(self, group: str) -> None:
        """Join a group whose message closes this socket (left on disconnect)."""
        self.closers.add(group)
        await self.channel_layer.group_add(group, self.channel_name)

    async def watch_credentials(self, *, user_id: int, key=None, still_valid) -> bool:
        """Join the groups that close this socket when its credential dies, then check the
        credential again (`still_valid`, an async callable): a revocation that happened
        before the socket listened is not missed. False: it was closed."""
        await self.join_closer(group_for_user(user_id))
        if key is not None:
            await self.join_closer(group_for_apikey(key.pk))
        if not await still_valid():
            await self.end(CLOSE_UNAUTHORIZED, "credentials no longer valid")
            return False
        if key is not None and key.expires_at is not None:
            self.expiry = asyncio.create_task(self._close_at(key.expires_at))
        return True

    async def _close_at(self, deadline: datetime) -> None:
        while (left := (deadline - timezone.now()).total_seconds()) > 0:
            await asyncio.sleep(min(left, EXPIRY_RECHECK))
        await self.end(CLOSE_UNAUTHORIZED, "API key expired")

    async def credentials_revoked(self, message):
        await self.end(CLOSE_UNAUTHORIZED, message["reason"])
