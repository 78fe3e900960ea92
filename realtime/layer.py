"""The live events' channel layer: Redis pub/sub, plus sending many group messages at once.

A flush of agent events produces one message per organization and per node concerned. Sent one
`group_send` at a time, each PUBLISH waits for its round trip under the connection's lock;
`group_send_many` pipelines them (one round trip per flush on each Redis host). It relies on
channels_redis 4.3's pub/sub internals (pinned in requirements.txt); `send_group_messages`
falls back to plain `group_send` on any other layer.
"""

import asyncio
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from channels_redis.pubsub import RedisPubSubChannelLayer


class EventsPubSubLayer(RedisPubSubChannelLayer):
    async def group_send_many(self, messages: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
        layer = self._get_layer()  # this event loop's connections
        by_shard: dict = defaultdict(list)
        for group, message in messages:
            channel = layer._get_group_channel_name(group)
            by_shard[layer._get_shard(channel)].append((channel, self.serialize(message)))
        for shard, items in by_shard.items():
            async with shard._lock:
                shard._ensure_redis()
                pipe = shard._redis.pipeline(transaction=False)
                for channel, data in items:
                    pipe.publish(channel, data)
                await pipe.execute()


async def send_group_messages(layer, messages: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
    """Send every (group, message): pipelined where the layer can, else concurrently."""
    if isinstance(layer, EventsPubSubLayer):
        await layer.group_send_many(messages)
        return
    results = await asyncio.gather(
        *(layer.group_send(group, message) for group, message in messages),
        return_exceptions=True,
    )
    for result in results:
        if isinstance(result, Exception):
            raise result
