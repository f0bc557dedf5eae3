"""Websocket consumers relay events; they decide nothing.

A consumer authenticates the session, works out which groups the user may listen to (a client
their own household, an advisor their clients' households and their own advisor group), joins them
and forwards the typed events that services publish after commit (``portfolios.live``).

Access can change while a socket is open: the session ends (sign-out, a password change), the
user is deactivated, a client moves to another advisor. Every :data:`ACCESS_RECHECK_SECONDS` the
consumer works the groups out again: it leaves the ones the user may no longer hear, and closes
(4401 or 4403) when the session or the user is gone or nothing is left. Relaying an event still
touches no database.
"""

from __future__ import annotations

import asyncio
from importlib import import_module
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from advisor.api.filters import whole_number
from advisor.selectors import live_groups_for_user
from portfolios.live import LIVE_MESSAGE_TYPE, register_server_loop

#: Close code for "authentication required / not allowed" (private range 4000-4999).
CLOSE_UNAUTHORISED = 4401
CLOSE_FORBIDDEN = 4403

#: How often an open socket's access is worked out again (see the module's docstring).
ACCESS_RECHECK_SECONDS = 60.0


def _groups_now(scope: dict[str, Any], household_id: int | None) -> tuple[int, list[str]]:
    """(close code or 0, the groups the scope's user may hear now).

    The user is read again from a fresh copy of the session through Django's ``get_user``, as a
    request would be: a session that was deleted (sign-out), whose password hash no longer matches
    (a password change) or whose user is inactive gives no user.
    """
    from types import SimpleNamespace

    from django.contrib.auth import get_user

    key = getattr(scope.get("session"), "session_key", None)
    if not key:
        return CLOSE_UNAUTHORISED, []
    session = import_module(settings.SESSION_ENGINE).SessionStore(session_key=key)
    user = get_user(SimpleNamespace(session=session))  # type: ignore[arg-type]
    if not user.is_authenticated or user.pk != scope["user"].pk:
        return CLOSE_UNAUTHORISED, []
    groups = live_groups_for_user(user=user, household_id=household_id)
    return (0 if groups else CLOSE_FORBIDDEN), groups


class LiveConsumer(AsyncJsonWebsocketConsumer):
    """``/ws/live/`` (optionally ``?household=<id>`` to narrow an advisor to one household)."""

    groups_joined: list[str]

    async def connect(self) -> None:
        self.groups_joined = []
        self.recheck: asyncio.Task[None] | None = None
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHORISED)
            return
        query = self.scope.get("query_string", b"").decode()
        household_id: int | None = None
        for part in query.split("&"):
            key, _, value = part.partition("=")
            if key == "household" and value:
                # ASCII digits within the id range: "²".isdigit() holds, yet int() refuses it
                household_id = whole_number(value)
                if household_id is None:
                    await self.close(code=CLOSE_FORBIDDEN)
                    return
        groups = await database_sync_to_async(live_groups_for_user)(
            user=user, household_id=household_id
        )
        if not groups:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        register_server_loop(asyncio.get_running_loop())
        await self.accept()
        for group in groups:
            await self.channel_layer.group_add(group, self.channel_name)
            self.groups_joined.append(group)
        await self.send_json({"event": "subscribed", "payload": {"groups": len(groups)}})
        self.recheck = asyncio.create_task(self._recheck_access(household_id))

    async def _recheck_access(self, household_id: int | None) -> None:
        while True:
            await asyncio.sleep(ACCESS_RECHECK_SECONDS)
            code, allowed = await database_sync_to_async(_groups_now)(self.scope, household_id)
            for group in [g for g in self.groups_joined if g not in allowed]:
                await self.channel_layer.group_discard(group, self.channel_name)
                self.groups_joined.remove(group)
            if code:
                await self.close(code=code)
                return

    async def disconnect(self, code: int) -> None:
        recheck = getattr(self, "recheck", None)
        if recheck is not None and recheck is not asyncio.current_task():
            recheck.cancel()
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)
        self.groups_joined = []

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Channels closes stale database connections before every handler, through the one
        # thread that sync code shares: a thread hop per websocket per event, which serialised
        # an event's fan-out to 1,000 sockets. Relaying an event touches no database.
        if message.get("type") == LIVE_MESSAGE_TYPE:
            await self.live_event(message)
            return
        await super().dispatch(message)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"event": "pong", "payload": {}})

    async def live_event(self, message: dict[str, Any]) -> None:
        text = message.get("text")
        if text is not None:  # encoded once by the publisher (portfolios.live.live_message)
            await self.send(text_data=text)
        else:
            await self.send_json({"event": message["event"], "payload": message["payload"]})
