"""Live events for the browser: group names and publishing after commit.

Services call :func:`publish_on_commit` inside their transaction; the event reaches the Channels
groups only once the transaction commits, so a browser never sees a fill that was rolled back.
Consumers (``advisor.consumers``) only relay what arrives in their groups.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import logging
import queue
import threading
from collections.abc import Iterable
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.dispatch import Signal

logger = logging.getLogger(__name__)

#: The message type consumers handle (``live.event`` → ``live_event``).
LIVE_MESSAGE_TYPE = "live.event"


def household_group(household_id: int) -> str:
    return f"household-{household_id}"


def advisor_group(advisor_user_id: int) -> str:
    return f"advisor-{advisor_user_id}"


def _jsonable(payload: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(payload, cls=DjangoJSONEncoder))


_server_loop: asyncio.AbstractEventLoop | None = None


def register_server_loop(loop: asyncio.AbstractEventLoop) -> None:
    """The ASGI server's event loop (consumers register it when they connect). With the
    in-memory channel layer of the embedded mode, sends from other threads must run on it."""
    global _server_loop
    _server_loop = loop


#: How long one group send may take before it is given up (the event is best-effort).
SEND_TIMEOUT_S = 5.0


def _send(
    layer: Any, group: str, message: dict[str, Any], loop: asyncio.AbstractEventLoop | None = None
) -> None:
    from channels.layers import InMemoryChannelLayer

    server = _server_loop
    if isinstance(layer, InMemoryChannelLayer) and server is not None and server.is_running():
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not server:
            asyncio.run_coroutine_threadsafe(layer.group_send(group, message), server).result(
                timeout=SEND_TIMEOUT_S
            )
            return
    if loop is not None:
        # the publisher's own loop: the layer's Redis connection stays open between events
        loop.run_until_complete(asyncio.wait_for(layer.group_send(group, message), SEND_TIMEOUT_S))
        return
    async_to_sync(layer.group_send)(group, message)


def live_message(event: str, payload: dict[str, Any]) -> dict[str, Any]:
    """The channel-layer message of an event. ``text`` is the frame every socket sends, encoded
    once here rather than once per socket."""
    body = _jsonable(payload)
    return {
        "type": LIVE_MESSAGE_TYPE,
        "event": event,
        "payload": body,
        "text": json.dumps({"event": event, "payload": body}, separators=(",", ":")),
    }


def publish_now(
    *,
    groups: Iterable[str],
    event: str,
    payload: dict[str, Any],
    loop: asyncio.AbstractEventLoop | None = None,
) -> None:
    """Send one event to each group immediately; a layer failure is logged, never raised."""
    layer = get_channel_layer()
    if layer is None:
        return
    message = live_message(event, payload)
    for group in groups:
        try:
            _send(layer, group, message, loop)
        except Exception:  # the ledger is committed; a missed push is repaired by the next load
            logger.exception("could not publish %s to %s", event, group)


class _Publisher:
    """Sends events from a background thread, so a fill or an approval never waits on the
    channel layer. Pushes are best-effort by design: pages reload their state on reconnect."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[tuple[list[str], str, dict[str, Any]] | threading.Event] = (
            queue.SimpleQueue()
        )
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def _ensure_running(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                if self._thread is None:
                    # A short-lived process (a management command, a script) must not exit
                    # with events still queued. Python's thread-pool executors (which
                    # async_to_sync needs) refuse work once their own exit hook has run, and
                    # hooks registered with threading run, newest first, before it.
                    register = getattr(threading, "_register_atexit", atexit.register)
                    register(self.flush)
                self._thread = threading.Thread(
                    target=self._run, name="live-publisher", daemon=True
                )
                self._thread.start()

    def submit(self, groups: list[str], event: str, payload: dict[str, Any]) -> None:
        self._ensure_running()
        self._queue.put((groups, event, payload))

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        while True:
            item = self._queue.get()
            if isinstance(item, threading.Event):
                item.set()
                continue
            groups, event, payload = item
            publish_now(groups=groups, event=event, payload=payload, loop=loop)

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything queued so far has been sent; False on timeout."""
        self._ensure_running()
        marker = threading.Event()
        self._queue.put(marker)
        return marker.wait(timeout)


_publisher = _Publisher()


def publish_soon(*, groups: Iterable[str], event: str, payload: dict[str, Any]) -> None:
    """Queue an event for the background publisher (returns at once); nothing when the process
    publishes no live events (``LIVE_EVENTS``)."""
    if not settings.LIVE_EVENTS:
        return
    _publisher.submit(list(groups), event, _jsonable(payload))


def flush_published(timeout: float = 5.0) -> bool:
    """Wait for the background publisher to send everything queued so far."""
    return _publisher.flush(timeout)


def publish_on_commit(*, groups: Iterable[str], event: str, payload: dict[str, Any]) -> None:
    """Publish after the current transaction commits (immediately when there is none), from the
    background publisher: the caller does not wait for the channel layer."""
    if not settings.LIVE_EVENTS:
        return
    group_list = list(groups)
    transaction.on_commit(lambda: publish_soon(groups=group_list, event=event, payload=payload))


#: Sent for the events integrations may subscribe to (``proposal.created``, ``proposal.approved``,
#: ``order.filled``) with ``event``, ``payload`` and ``household_id``, inside the transaction of
#: the action. ``advisor.webhooks`` receives it and records the deliveries (its outbox), so layers
#: that may not import ``advisor`` (trading) still reach the integrations.
domain_event = Signal()


def domain_event_send(*, event: str, payload: dict[str, Any], household_id: int) -> None:
    """Tell the integrations about ``event`` (see :data:`domain_event`)."""
    domain_event.send(
        sender=None, event=event, payload=_jsonable(payload), household_id=household_id
    )
