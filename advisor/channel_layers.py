"""The Redis channel layer as the platform runs it."""

from __future__ import annotations

from channels_redis.core import RedisChannelLayer


class PlatformRedisChannelLayer(RedisChannelLayer):
    """channels-redis blocks on Redis for up to ``brpop_timeout`` seconds per receive; with
    redis-py's 5 s socket timeout, a 5 s block races the socket and drops idle websockets.
    Blocking for 3 s keeps every read inside the socket's timeout."""

    brpop_timeout = 3
