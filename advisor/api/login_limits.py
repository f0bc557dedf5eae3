"""Failed sign-ins are limited per username and client address, in the cache (Redis).

After :data:`FAILURE_LIMIT` failures for one username from one address within
:data:`WINDOW_SECONDS`, further attempts for that pair are refused until the window (counted from
the first failure) ends, whatever the password, with a message that says so and for how long.
A successful sign-in clears the count. Other addresses are not affected, so an attacker cannot
lock a client out from elsewhere; the per-address throttle of the token endpoint limits spraying
across usernames.

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

FAILURE_LIMIT = 5
WINDOW_SECONDS = 15 * 60


def _keys(username: str, address: str) -> tuple[str, str]:
    ident = hashlib.sha256(f"{username.strip().lower()}|{address}".encode()).hexdigest()[:40]
    return f"login-failures:{ident}", f"login-failures-since:{ident}"


def login_retry_after(*, username: str, address: str) -> int | None:
    """Seconds until this username may try again from this address; None when it may now."""
    count_key, since_key = _keys(username, address)
    count = cache.get(count_key) or 0
    if count < FAILURE_LIMIT:
        return None
    since = cache.get(since_key)
    if since is None:
        return WINDOW_SECONDS
    return max(1, int(WINDOW_SECONDS - (time.time() - float(since))))


def login_failure_record(*, username: str, address: str) -> int:
    """Count one failed sign-in; returns the failures so far in the window."""
    count_key, since_key = _keys(username, address)
    if cache.add(count_key, 0, timeout=WINDOW_SECONDS):
        cache.set(since_key, time.time(), timeout=WINDOW_SECONDS)
    try:
        return int(cache.incr(count_key))
    except ValueError:  # expired between add and incr
        cache.set(count_key, 1, timeout=WINDOW_SECONDS)
        cache.set(since_key, time.time(), timeout=WINDOW_SECONDS)
        return 1


def login_failures_clear(*, username: str, address: str) -> None:
    cache.delete_many(list(_keys(username, address)))


def blocked_message(retry_after: int) -> str:
    minutes = max(1, (retry_after + 59) // 60)
    return (
        f"Too many failed sign-in attempts for this username from your network. "
        f"Try again in {minutes} minute{'s' if minutes != 1 else ''}, or reset your password."
    )


def client_address(request: HttpRequest) -> str:
    return str(request.META.get("REMOTE_ADDR", ""))


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
