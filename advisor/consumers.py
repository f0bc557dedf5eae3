"""Websocket consumers relay events; they decide nothing.

A consumer authenticates the session, works out which groups the user may listen to (a client
their own household, an advisor their clients' households and their own advisor group), joins them
and forwards the typed events that services publish after commit (``portfolios.live``).
"""

from __future__ import annotations

import asyncio
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from advisor.api.filters import whole_number
from advisor.selectors import live_groups_for_user
from portfolios.live import LIVE_MESSAGE_TYPE, register_server_loop

#: Close code for "authentication required / not allowed" (private range 4000-4999).
CLOSE_UNAUTHORISED = 4401
CLOSE_FORBIDDEN = 4403


class LiveConsumer(AsyncJsonWebsocketConsumer):
    """``/ws/live/`` (optionally ``?household=<id>`` to narrow an advisor to one household)."""

    groups_joined: list[str]

    async def connect(self) -> None:
        self.groups_joined = []
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

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

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
