"""Fills from Alpaca's ``trade_updates`` websocket stream.

Two parts: :func:`trade_update_to_fill`, a pure converter from one stream message (as Alpaca sends
it) to a :class:`~trading.brokers.base.BrokerFill`, and :class:`FillStream`, a thin runner around
alpaca-py's ``TradingStream`` that hands each fill to a callback. A long-running management
command runs the stream; the REST reconcile (:meth:`AlpacaBroker.fills_since
<trading.brokers.alpaca.AlpacaBroker.fills_since>`) catches whatever the stream drops while it is
disconnected.

A fill's ``execution_id`` is not the stream's ``execution_id`` but the id the REST path gives the
same execution, :func:`~trading.brokers.alpaca.execution_id_for` of the Alpaca order id and the
order's ``filled_qty`` after the fill (the event carries the order as it stands after it). Both
paths therefore name one execution the same way and the platform's dedup by execution id books it
once; the module docstring of :mod:`trading.brokers.alpaca` explains the trade-off. Quantity and
price come from the event's own ``qty`` and ``price`` (this execution's, not the order's average),
read from Alpaca's strings as ``Decimal``; the stream is therefore exact where the REST path
inherits the rounding of ``filled_avg_price``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from portfolios.core.errors import InvalidInput
from portfolios.core.money import ZERO, quantity, to_decimal
from trading.brokers.alpaca import checked_base_url, execution_id_for, stream_url_for
from trading.brokers.base import BrokerFill
from trading.core.orders import OrderSide

logger = logging.getLogger(__name__)

FILL_EVENTS = frozenset({"fill", "partial_fill"})
"""The ``trade_updates`` events that report an execution."""


def trade_update_to_fill(message: Mapping[str, Any]) -> BrokerFill | None:
    """The fill reported by one ``trade_updates`` message, or None for other events.

    Parameters
    ----------
    message
        Either the whole message (``{"stream": "trade_updates", "data": {...}}``) or its
        ``data``: ``event``, ``order`` (the order after the event), ``qty``, ``price``,
        ``timestamp``, ``execution_id`` and ``position_qty``.

    Returns
    -------
    BrokerFill or None
        The execution, with the platform's execution id (see the module docstring); None for
        ``new``, ``canceled``, ``expired`` and every other event that fills nothing.

    Raises
    ------
    InvalidInput
        When a fill event lacks a field the fill needs or carries an unreadable number.
    """
    data = message.get("data", message) if message.get("stream") is not None else message
    if not isinstance(data, Mapping):
        raise InvalidInput("trade update has no data object", field="data")
    event = data.get("event")
    if event not in FILL_EVENTS:
        return None
    order = data.get("order")
    if not isinstance(order, Mapping):
        raise InvalidInput(f"{event} event has no order object", field="order")
    order_id = _required_text(order, "id")
    filled_after = to_decimal(_required_text(order, "filled_qty"), name="order.filled_qty")
    fill_quantity = to_decimal(_required(data, "qty"), name="qty")
    fill_price = to_decimal(_required(data, "price"), name="price")
    if fill_quantity <= 0 or filled_after < fill_quantity:
        raise InvalidInput(
            f"{event} of order {order_id}: qty {fill_quantity} does not fit the order's "
            f"filled_qty {filled_after}",
            field="qty",
        )
    if fill_price <= 0:
        raise InvalidInput(f"{event} of order {order_id}: price {fill_price}", field="price")
    side = _required_text(order, "side")
    try:
        order_side = OrderSide(side)
    except ValueError as exc:
        raise InvalidInput(f"order {order_id} has side {side!r}", field="side") from exc
    return BrokerFill(
        execution_id=execution_id_for(order_id, filled_after),
        client_order_id=_required_text(order, "client_order_id"),
        symbol=_required_text(order, "symbol"),
        side=order_side,
        quantity=quantity(fill_quantity),
        price=fill_price,
        fee=ZERO,
        executed_at=_timestamp(_required_text(data, "timestamp")),
    )


def _required(data: Mapping[str, Any], key: str) -> Any:
    value = data.get(key)
    if value is None or value == "":
        raise InvalidInput(f"trade update lacks {key}", field=key)
    return value


def _required_text(data: Mapping[str, Any], key: str) -> str:
    return str(_required(data, key))


def _timestamp(text: str) -> datetime:
    """An RFC 3339 time as Alpaca writes it (``Z`` or an offset, up to nanoseconds), aware."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidInput(f"timestamp is not RFC 3339: {text!r}", field="timestamp") from exc
    if moment.tzinfo is None:
        raise InvalidInput(f"timestamp has no time zone: {text!r}", field="timestamp")
    return moment


class FillStream:
    """Subscribe to ``trade_updates`` and hand every fill to ``on_fill``.

    ``on_fill`` runs in a worker thread (``asyncio.to_thread``), so it may use the Django ORM. An
    exception from it, or an unreadable event, is logged and the stream goes on: the REST
    reconcile books whatever the stream missed. ``run`` blocks until ``stop`` is called (from
    another thread or a signal handler); alpaca-py reconnects with backoff on its own.
    """

    def __init__(
        self,
        *,
        api_key: str,
        secret_key: str,
        paper: bool = True,
        base_url: str | None = None,
        stream_url: str | None = None,
        on_fill: Callable[[BrokerFill], None],
    ) -> None:
        from alpaca.trading.stream import TradingStream

        if not api_key or not secret_key:
            raise InvalidInput("Alpaca needs both an API key and a secret key", field="api_key")
        if base_url:
            checked_base_url(base_url, paper=paper)
        self._url = stream_url or stream_url_for(paper=paper, base_url=base_url)
        self._paper = paper
        self._on_fill = on_fill
        self._stream = TradingStream(
            api_key, secret_key, paper=paper, raw_data=True, url_override=self._url
        )
        self._stream.subscribe_trade_updates(self.handle)
        self._stopped = threading.Event()
        self._started = threading.Event()

    def __repr__(self) -> str:
        return f"FillStream(paper={self._paper}, url={self._url!r})"

    @property
    def url(self) -> str:
        return self._url

    async def handle(self, message: Mapping[str, Any]) -> BrokerFill | None:
        """Convert one message and pass its fill (if any) to ``on_fill``; returns the fill."""
        try:
            fill = trade_update_to_fill(message)
        except InvalidInput:
            logger.exception("unreadable trade update from Alpaca; the REST reconcile covers it")
            return None
        if fill is None:
            return None
        try:
            await asyncio.to_thread(self._on_fill, fill)
        except Exception:
            logger.exception("booking the fill %s failed; the REST reconcile covers it", fill)
        return fill

    def run(self) -> None:
        """Connect and dispatch fills until :meth:`stop` is called."""
        if self._stopped.is_set():
            return
        self._started.set()
        logger.info("listening to Alpaca trade updates at %s", self._url)
        self._stream.run()

    def stop(self, *, timeout: float = 5.0) -> None:
        """Stop :meth:`run` (from any thread) by closing the connection."""
        self._stopped.set()
        if not self._started.is_set():
            return
        # TradingStream creates its event loop inside run(); wait for it if run() just began.
        deadline = time.monotonic() + timeout
        loop = getattr(self._stream, "_loop", None)
        while (loop is None or not loop.is_running()) and time.monotonic() < deadline:
            time.sleep(0.01)
            loop = getattr(self._stream, "_loop", None)
        if loop is None or not loop.is_running():
            return
        asyncio.run_coroutine_threadsafe(self._stream.stop_ws(), loop).result(timeout=timeout)
        # stop_ws alone waits for the next message or a 5 s poll; closing wakes the reader now.
        asyncio.run_coroutine_threadsafe(self._stream.close(), loop).result(timeout=timeout)


def fill_stream_from_settings(on_fill: Callable[[BrokerFill], None]) -> FillStream:
    """The fill stream for the Alpaca account configured in Django settings."""
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    api_key = getattr(settings, "ALPACA_API_KEY", "")
    secret_key = getattr(settings, "ALPACA_SECRET_KEY", "")
    if not api_key or not secret_key:
        raise ImproperlyConfigured("the Alpaca stream needs ALPACA_API_KEY and ALPACA_SECRET_KEY")
    try:
        return FillStream(
            api_key=api_key,
            secret_key=secret_key,
            paper=getattr(settings, "TRADING_MODE", "paper") != "live",
            base_url=getattr(settings, "ALPACA_BASE_URL", "") or None,
            on_fill=on_fill,
        )
    except InvalidInput as exc:
        raise ImproperlyConfigured(str(exc)) from exc
