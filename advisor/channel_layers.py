"""The Redis channel layer as the platform runs it."""

from __future__ import annotations

from channels_redis.pubsub import RedisPubSubChannelLayer


class PlatformChannelLayer(RedisPubSubChannelLayer):
    """channels-redis' pub/sub layer: a group event is one Redis ``PUBLISH``; every server
    process subscribed to the group relays it to its own sockets. Connections live per event
    loop; :meth:`close_pools` closes those of the running loop (as the list-based layer's
    method of that name does), for code that ends a loop it opened."""

    async def close_pools(self) -> None:
        await self.flush()
