"""Token authentication with the token's user kept in the cache for a short while.

DRF's ``TokenAuthentication`` reads the token and its user from PostgreSQL on every request; an
integration polling the API pays that query each time. Here the user behind a token is cached
(Redis) for :data:`TOKEN_CACHE_SECONDS`, keyed by a hash of the token (the token itself is never
a cache key). The entry is dropped at once when the user is saved or deleted (deactivation,
role change) and when the token is deleted (revocation), through model signals connected in
``integrations.apps``; a change that bypasses the models (a bulk ``QuerySet.update``) takes
effect within :data:`TOKEN_CACHE_SECONDS`. An inactive user is refused whatever the cache says.

A token works for ``API_TOKEN_LIFETIME_DAYS`` after it was issued (:func:`token_expires_at`);
after that it is refused with a message that says how to get a new one, and the token endpoint
replaces it. Changing or resetting a password deletes the user's token (:func:`on_user_saving`),
so a token taken with an old password stops working with it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token

TOKEN_CACHE_SECONDS = 30


def token_cache_key(key: str) -> str:
    return "api-token-user:v2:" + hashlib.sha256(key.encode()).hexdigest()[:40]


def token_expires_at(token: Token) -> dt.datetime:
    """When ``token`` stops working: ``API_TOKEN_LIFETIME_DAYS`` after it was issued."""
    return token.created + dt.timedelta(days=settings.API_TOKEN_LIFETIME_DAYS)


def token_fresh(user: Any) -> Token:
    """The user's working token: the current one, or a new one when it has expired or none exists."""
    token, created = Token.objects.get_or_create(user=user)
    if not created and token_expires_at(token) <= timezone.now():
        token.delete()
        token = Token.objects.create(user=user)
    return token


def token_cache_forget(*, keys: list[str]) -> None:
    """Drop the cached users of these tokens."""
    if keys:
        cache.delete_many([token_cache_key(key) for key in keys])


class CachedTokenAuthentication(TokenAuthentication):
    """``Authorization: Token <key>``, as DRF's, with the user cached (see the module doc)."""

    def authenticate_credentials(self, key: str) -> tuple[Any, Any]:
        cache_key = token_cache_key(key)
        cached = cache.get(cache_key)
        if cached is None:
            token = Token.objects.select_related("user").filter(key=key).first()
            if token is None:
                raise exceptions.AuthenticationFailed("Invalid token.")
            cached = (token.user, token_expires_at(token))
            cache.set(cache_key, cached, timeout=TOKEN_CACHE_SECONDS)
        user, expires_at = cached
        if expires_at <= timezone.now():
            raise exceptions.AuthenticationFailed(
                "The token has expired: sign in again at /api/v1/auth/token/ for a new one."
            )
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


def on_user_saving(sender: Any, instance: Any, **kwargs: Any) -> None:
    """A password about to change (a change, a reset, an admin setting it): delete the user's
    token, so that one obtained with the old password stops working."""
    update_fields = kwargs.get("update_fields")
    if (
        instance.pk is None
        or kwargs.get("raw")
        or (update_fields is not None and "password" not in update_fields)
    ):
        return
    stored = (
        type(instance).objects.filter(pk=instance.pk).values_list("password", flat=True).first()
    )
    if stored is not None and stored != instance.password:
        for token in Token.objects.filter(user_id=instance.pk):
            token.delete()  # through the model: its cached user goes too


def on_token_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    token_cache_forget(keys=[instance.key])
