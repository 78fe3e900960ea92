"""Sockets that outlive a channel-layer (Redis) outage.

Channels runs a consumer's channel-layer `receive` beside its websocket's: when Redis goes away
that receive raises, and Channels ends the consumer, closing a socket that needs Redis only to
hear other processes. `LayerOutageMixin` keeps such a socket open instead: its receive waits for
the layer to answer again, then the consumer joins its groups once more (a restarted Redis
holds none of them) and receives on. One probe per process and event loop watches the layer
through an outage, so thousands of sockets wait on one event, not on a retry loop each.
"""

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger(__name__)

# What a layer raises while its server is down, restarting or still loading its data.
LAYER_ERRORS: tuple[type[BaseException], ...] = (
    RedisConnectionError,
    RedisTimeoutError,
    ConnectionError,
    OSError,
)
PROBE_START = 0.05  # seconds between probes at first: a restart is over in well under a second
PROBE_MAX = 0.5  # and at most: a socket is back in its groups within this of Redis
PROBE_GROUP = "layer-probe"
PROBE_CHANNEL = "layer-probe.watch!probe"


class LayerWatch:
    """Whether one layer answers, as seen from one event loop."""

    def __init__(self, layer) -> None:
        self.layer = layer
        self.up = asyncio.Event()
        self.up.set()
        self.outages = 0
        self._probe: asyncio.Task | None = None

    def failed(self, exc: BaseException) -> None:
        """An operation on the layer failed: probe it until it answers again."""
        if not self.up.is_set():
            return
        self.up.clear()
        self.outages += 1
        log.warning("channel layer unreachable (%s): sockets stay open, waiting for it", exc)
        self._probe = asyncio.ensure_future(self._until_up())

    async def _until_up(self) -> None:
        delay = PROBE_START
        while True:
            await asyncio.sleep(delay)
            try:
                # Any round trip through the layer, removing nothing that exists.
                await self.layer.group_discard(PROBE_GROUP, PROBE_CHANNEL)
            except LAYER_ERRORS:
                delay = min(delay * 2, PROBE_MAX)
                continue
            log.warning("channel layer reachable again")
            self.up.set()
            return


_watches: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, LayerWatch]]" = (
    weakref.WeakKeyDictionary()
)


def watch_for(layer) -> LayerWatch:
    per_loop = _watches.setdefault(asyncio.get_running_loop(), {})
    watch = per_loop.get(id(layer))
    if watch is None or watch.layer is not layer:
        watch = per_loop[id(layer)] = LayerWatch(layer)
    return watch


class LayerOutageMixin:
    """For a consumer that should keep its socket through a layer outage. It joins groups with
    `join_group`, which, when the layer is down, joins once it is back (and again after each
    later outage). Mixed into a Channels consumer, before it."""

    channel_layer: Any
    channel_name: str
    _layer_receive: Callable[[], Awaitable[dict]]

    # Channels sets `channel_receive` to the layer's receive and awaits it beside the
    # websocket's: a property puts the outage-proof receive in its place.
    @property
    def channel_receive(self) -> Callable[[], Awaitable[dict]]:
        return self._steady_receive

    @channel_receive.setter
    def channel_receive(self, receive: Callable[[], Awaitable[dict]]) -> None:
        self._layer_receive = receive

    def _groups(self) -> set[str]:
        if not hasattr(self, "_joined_groups"):
            self._joined_groups: set[str] = set()
        return self._joined_groups

    async def join_group(self, group: str) -> bool:
        """Join `group` now if the layer answers (True), else as soon as it does (False)."""
        self._groups().add(group)
        try:
            await self.channel_layer.group_add(group, self.channel_name)
            return True
        except LAYER_ERRORS as exc:
            self._layer_failed(exc)
            return False

    async def leave_group(self, group: str) -> None:
        """Leave `group`; with the layer down there is nothing to leave (a restarted Redis
        forgot it, and an unanswered membership expires)."""
        self._groups().discard(group)
        try:
            await self.channel_layer.group_discard(group, self.channel_name)
        except LAYER_ERRORS as exc:
            log.info("leaving %s while the channel layer is down: %s", group, exc)

    def _layer_failed(self, exc: BaseException) -> None:
        watch_for(self.channel_layer).failed(exc)
        rejoin = getattr(self, "_rejoin", None)
        if rejoin is None or rejoin.done():
            self._rejoin: asyncio.Task = asyncio.ensure_future(self._rejoin_when_up())

    async def _rejoin_when_up(self) -> None:
        watch = watch_for(self.channel_layer)
        while True:
            await watch.up.wait()
            try:
                for group in list(self._groups()):
                    await self.channel_layer.group_add(group, self.channel_name)
                return
            except LAYER_ERRORS as exc:
                watch.failed(exc)

    async def _steady_receive(self) -> dict:
        while True:
            try:
                return await self._layer_receive()
            except LAYER_ERRORS as exc:
                self._layer_failed(exc)
                watch = watch_for(self.channel_layer)
                await watch.up.wait()
                rejoin = getattr(self, "_rejoin", None)
                if rejoin is not None:  # back in its groups before receiving on
                    await asyncio.wait([rejoin])

    def stop_rejoining(self) -> None:
        """The socket is closing: no more joins on its behalf."""
        self._groups().clear()
        rejoin = getattr(self, "_rejoin", None)
        if rejoin is not None:
            rejoin.cancel()
