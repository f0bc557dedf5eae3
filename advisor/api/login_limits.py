"""Failed sign-ins are limited per username and client address, and per address, in the cache.

After :data:`FAILURE_LIMIT` failures for one username from one address within
:data:`WINDOW_SECONDS`, further attempts for that pair are refused until the window (counted from
the first failure) ends, whatever the password, with a message that says so and for how long.
A successful sign-in clears that pair's count. Other addresses are not affected, so an attacker
cannot lock a client out from elsewhere. Against spraying (a few passwords tried on many
usernames), an address is also refused after :data:`ADDRESS_FAILURE_LIMIT` failures within the
window, whatever the usernames; a success does not clear that count.

The client's address is :func:`client_address`: ``REMOTE_ADDR``, or, behind ``NUM_PROXIES``
trusted reverse proxies (``DJANGO_NUM_PROXIES``), the address the nearest of them saw, as DRF's
throttles read it. A client cannot choose it by sending ``X-Forwarded-For``.

Both sign-in doors use it: :class:`RateLimitedLoginView` for the browser form (``/accounts/login/``)
and the API's token endpoint (``POST /api/v1/auth/token/``).
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from django.contrib.auth import views as auth_views
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from rest_framework.throttling import BaseThrottle

FAILURE_LIMIT = 5
ADDRESS_FAILURE_LIMIT = 50
WINDOW_SECONDS = 15 * 60


def _keys(ident: str) -> tuple[str, str]:
    digest = hashlib.sha256(ident.encode()).hexdigest()[:40]
    return f"login-failures:{digest}", f"login-failures-since:{digest}"


def _pair(username: str, address: str) -> str:
    return f"{username.strip().lower()}|{address}"


def _address(address: str) -> str:
    return f"address|{address}"


def _retry_after(ident: str, limit: int) -> int | None:
    count_key, since_key = _keys(ident)
    count = cache.get(count_key) or 0
    if count < limit:
        return None
    since = cache.get(since_key)
    if since is None:
        return WINDOW_SECONDS
    return max(1, int(WINDOW_SECONDS - (time.time() - float(since))))


def _record(ident: str) -> int:
    count_key, since_key = _keys(ident)
    if cache.add(count_key, 0, timeout=WINDOW_SECONDS):
        cache.set(since_key, time.time(), timeout=WINDOW_SECONDS)
    try:
        return int(cache.incr(count_key))
    except ValueError:  # expired between add and incr
        cache.set(count_key, 1, timeout=WINDOW_SECONDS)
        cache.set(since_key, time.time(), timeout=WINDOW_SECONDS)
        return 1


def login_retry_after(*, username: str, address: str) -> int | None:
    """Seconds until this username may try again from this address; None when it may now."""
    waits = [
        wait
        for wait in (
            _retry_after(_pair(username, address), FAILURE_LIMIT),
            _retry_after(_address(address), ADDRESS_FAILURE_LIMIT),
        )
        if wait is not None
    ]
    return max(waits) if waits else None


def login_failure_record(*, username: str, address: str) -> int:
    """Count one failed sign-in; returns this username's failures from this address so far."""
    _record(_address(address))
    return _record(_pair(username, address))


def login_failures_clear(*, username: str, address: str) -> None:
    """A success: this username's count from this address starts again (the address's does not)."""
    cache.delete_many(list(_keys(_pair(username, address))))


def blocked_message(retry_after: int) -> str:
    minutes = max(1, (retry_after + 59) // 60)
    return (
        f"Too many failed sign-in attempts from your network. "
        f"Try again in {minutes} minute{'s' if minutes != 1 else ''}, or reset your password."
    )


def client_address(request: HttpRequest) -> str:
    """The client's address as DRF's throttles read it: ``REMOTE_ADDR``, or behind
    ``NUM_PROXIES`` trusted proxies the one the nearest proxy appended to ``X-Forwarded-For``."""
    return str(BaseThrottle().get_ident(request) or "")  # type: ignore[arg-type]  # reads META only


class RateLimitedLoginView(auth_views.LoginView):
    """Django's login view, refusing a username+address pair after repeated failures (429)."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        username = str(request.POST.get("username", ""))[:150]
        retry_after = login_retry_after(username=username, address=client_address(request))
        if retry_after is not None:
            # An unbound form: the password is not even checked while the pair is blocked.
            form = self.get_form_class()(request=request, initial={"username": username})
            form.cleaned_data = {}
            form.add_error(None, blocked_message(retry_after))
            response = self.render_to_response(self.get_context_data(form=form), status=429)
            response["Retry-After"] = str(retry_after)
            return response
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form: Any) -> HttpResponse:
        username = str(self.request.POST.get("username", ""))[:150]
        if username:
            login_failure_record(username=username, address=client_address(self.request))
        return super().form_invalid(form)

    def form_valid(self, form: Any) -> HttpResponse:
        login_failures_clear(
            username=form.get_user().get_username(), address=client_address(self.request)
        )
        return super().form_valid(form)
