"""Token authentication with the token's user kept in the cache for a short while.

DRF's ``TokenAuthentication`` reads the token and its user from PostgreSQL on every request; an
integration polling the API pays that query each time. Here the user behind a token is cached
(Redis) for :data:`TOKEN_CACHE_SECONDS`, keyed by a hash of the token (the token itself is never
a cache key). The entry is dropped at once when the user is saved or deleted (deactivation,
role change) and when the token is deleted (revocation), through model signals connected in
``integrations.apps``; a change that bypasses the models (a bulk ``QuerySet.update``) takes
effect within :data:`TOKEN_CACHE_SECONDS`. An inactive user is refused whatever the cache says.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.core.cache import cache
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token

TOKEN_CACHE_SECONDS = 30


def token_cache_key(key: str) -> str:
    return "api-token-user:" + hashlib.sha256(key.encode()).hexdigest()[:40]


def token_cache_forget(*, keys: list[str]) -> None:
    """Drop the cached users of these tokens."""
    if keys:
        cache.delete_many([token_cache_key(key) for key in keys])


class CachedTokenAuthentication(TokenAuthentication):
    """``Authorization: Token <key>``, as DRF's, with the user cached (see the module doc)."""

    def authenticate_credentials(self, key: str) -> tuple[Any, Any]:
        cache_key = token_cache_key(key)
        user = cache.get(cache_key)
        if user is None:
            token = Token.objects.select_related("user").filter(key=key).first()
            if token is None:
                raise exceptions.AuthenticationFailed("Invalid token.")
            user = token.user
            cache.set(cache_key, user, timeout=TOKEN_CACHE_SECONDS)
        if not user.is_active:
            raise exceptions.AuthenticationFailed("User inactive or deleted.")
        return user, key


def on_user_changed(sender: Any, instance: Any, **kwargs: Any) -> None:
    """A user saved or deleted: forget their tokens' cached user (not for a login's
    ``last_login`` stamp, which changes nothing the API decides on)."""
    update_fields = kwargs.get("update_fields")
    if update_fields is not None and set(update_fields) <= {"last_login"}:
        return
    token_cache_forget(
        keys=list(Token.objects.filter(user_id=instance.pk).values_list("key", flat=True))
    )


def on_token_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    token_cache_forget(keys=[instance.key])
