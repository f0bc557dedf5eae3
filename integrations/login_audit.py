"""Sign-ins in the audit log: Django's ``user_logged_in``, ``user_login_failed`` and
``user_logged_out`` signals become :class:`portfolios.models.AuditEvent` rows.

A failed attempt records the username tried and the client address, never the password (Django
sends the credentials with the password already masked; only the username is read here).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject, empty

from portfolios.services import audit_record


@dataclass(frozen=True)
class Login:
    """The object of a failed sign-in: the username tried (there may be no such user)."""

    pk: str


def client_address(request: HttpRequest | None) -> str:
    """The client's IP address, as the sign-in limits read it (``REMOTE_ADDR``, or the address
    the nearest trusted proxy saw when ``DJANGO_NUM_PROXIES`` is set)."""
    if request is None:
        return ""
    from advisor.api.login_limits import client_address as address_of

    return address_of(request)


def _concrete(user: Any) -> Any:
    """The user itself, not the lazy wrapper ``request.user`` may be (the audit names its type)."""
    if isinstance(user, SimpleLazyObject):
        if user._wrapped is empty:
            user._setup()
        return user._wrapped
    return user


def _channel(request: HttpRequest | None) -> str:
    if request is None:
        return "unknown"
    return "api" if request.path.startswith("/api/") else "browser"


def on_logged_in(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    user = _concrete(user)
    audit_record(
        actor_id=user.pk,
        action="login.succeeded",
        obj=user,
        data={"ip": client_address(request), "channel": _channel(request)},
    )


def on_logged_out(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    if user is None:
        return
    user = _concrete(user)
    audit_record(
        actor_id=user.pk,
        action="logout",
        obj=user,
        data={"ip": client_address(request), "channel": _channel(request)},
    )


def on_login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    username = str(credentials.get("username", ""))[:150]
    audit_record(
        actor_id=None,
        action="login.failed",
        obj=Login(pk=username),
        data={"username": username, "ip": client_address(request), "channel": _channel(request)},
    )
