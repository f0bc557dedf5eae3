"""Rate limits: per user, per anonymous address, and scoped ones for sentiment and sign-ins.

Counted in fixed windows in the cache: ``SET NX EX`` and ``INCR`` pipelined, one Redis round
trip per request, instead of DRF's read-modify-write of a
request history (two round trips, and racy across processes). A burst may reach twice the rate
across a window boundary; the rate holds over any two windows.

Each scope's rate comes from ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"][scope]`` when the
settings name it, else from the default here, so a deployment tunes them without code.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

_CLIENTS: dict[int, Any] = {}


def _redis_client(key: str) -> Any:
    """A Redis client over the default cache's connection pool, made once per pool (Django's
    cache builds a new client object for every operation); None for other cache backends."""
    backend = caches["default"]
    if not isinstance(backend, RedisCache):
        return None
    redis_cache: Any = backend._cache  # Django's RedisCacheClient (private, stable since 4.0)
    pool = redis_cache._get_connection_pool(True)
    client = _CLIENTS.get(id(pool))
    if client is None:
        client = _CLIENTS[id(pool)] = redis_cache._client(connection_pool=pool)
    return client


def window_count(key: str, *, seconds: int, now: float | None = None) -> tuple[int, float]:
    """Count one request in the current ``seconds``-long window of ``key``; returns the count so
    far and when the window ends (unix time)."""
    now = time.time() if now is None else now
    start = int(now) - int(now) % seconds
    name = cache.make_key(f"{key}:{start}")
    client = _redis_client(name)
    if client is not None:
        pipe = client.pipeline(transaction=False)
        pipe.set(name, 0, ex=seconds + 1, nx=True)  # the window's first request starts it
        pipe.incr(name)
        count = int(pipe.execute()[1])
    else:
        raw = f"{key}:{start}"
        cache.add(raw, 0, timeout=seconds + 1)
        try:
            count = int(cache.incr(raw))
        except ValueError:  # expired in between
            cache.set(raw, 1, timeout=seconds + 1)
            count = 1
    return count, float(start + seconds)


class FixedWindowThrottle(SimpleRateThrottle):
    """DRF's throttle interface over :func:`window_count`."""

    scope: str
    default_rate: str
    window_end: float = 0.0
    num_requests: int
    duration: int

    def get_rate(self) -> str | None:
        configured = api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)
        return str(configured) if configured else self.default_rate

    def allow_request(self, request: Request, view: Any) -> bool:
        if self.rate is None:
            return True
        key = self.get_cache_key(request, view)
        if key is None:
            return True
        count, self.window_end = window_count(key, seconds=self.duration)
        return count <= self.num_requests

    def wait(self) -> float | None:
        return max(1.0, self.window_end - time.time())


class ApiUserRateThrottle(FixedWindowThrottle):
    """Every signed-in user: ``API_THROTTLE_USER`` (6,000 a minute by default)."""

    scope = "user"
    default_rate = "6000/minute"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        if not (request.user and request.user.is_authenticated):
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.user.pk}


class ApiAnonRateThrottle(FixedWindowThrottle):
    """Requests without credentials, per address: ``API_THROTTLE_ANON`` (60 a minute)."""

    scope = "anon"
    default_rate = "60/minute"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        if request.user and request.user.is_authenticated:
            return None
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class SentimentRateThrottle(ApiUserRateThrottle):
    """Sentiment scoring runs a model: 60 requests a minute per user by default."""

    scope = "sentiment"
    default_rate = "60/minute"


class LoginRateThrottle(FixedWindowThrottle):
    """Token sign-ins per client address, successful or not: 20 a minute by default.

    (Failed sign-ins per username and address are limited apart, in ``login_limits``.)
    """

    scope = "login"
    default_rate = "20/minute"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


#: What every API view applies unless it says otherwise.
DEFAULT_THROTTLES: list[type[FixedWindowThrottle]] = [ApiUserRateThrottle, ApiAnonRateThrottle]
