"""The Alpaca adapter of the broker port, on alpaca-py's ``TradingClient``.

The platform trades one omnibus Alpaca account (paper unless ``TRADING_MODE=live``) and keeps a
sub-ledger per client account itself: orders, fills, positions and lots are booked per account on
the platform's side, and Alpaca only sees the sum. (Alpaca's Broker API gives every client an
account of their own; an adapter on ``alpaca.broker.BrokerClient`` would implement the same
:class:`~trading.brokers.base.Broker` port with ``OrderIntent.account_key`` mapped to an Alpaca
account id, and ``positions``/``account`` asked per account. Nothing above the port changes.)

This module is the only place that knows Alpaca's REST API. It converts Alpaca's strings into
``Decimal`` and the port's dataclasses, and its errors into the port's errors:

================================================  ==============================================
Alpaca answer                                     raised
================================================  ==============================================
403 "insufficient buying power"                   ``BrokerRejected(code="insufficient_buying_power")``
403 "insufficient qty available for order"        ``BrokerRejected(code="insufficient_quantity")``
403/422 "potential wash trade detected"           ``BrokerRejected(code="wash_trade")``
422 about the quantity (``qty``, fractional)      ``BrokerRejected(code="invalid_quantity")``
422 about the limit price (sub-penny)             ``BrokerRejected(code="invalid_price")``
422 asset unknown, inactive or not tradable       ``BrokerRejected(code="not_tradable")``
401, other 403                                    ``BrokerRejected(code="forbidden")``
422 "client_order_id must be unique" on submit    not an error: the existing order is returned
429                                               ``BrokerError`` with ``retry_after``
5xx, refused connection, malformed answer         ``BrokerError``
read timeout                                      ``BrokerTimeout``
404 on a lookup by client order id                ``None``
================================================  ==============================================

alpaca-py's own retries are switched off: ``RESTClient`` would otherwise sleep 3 s and repeat a 429
or 504 up to three times inside one call, hiding the fault from the caller and stalling a worker.
Retrying is the caller's job (Celery tasks retry :class:`BrokerError` with backoff), and every call
carries a timeout, which alpaca-py does not set by itself.

**Fills and their ids.** Alpaca reports executions on the ``trade_updates`` stream
(:mod:`trading.brokers.alpaca_stream`), which can drop events while disconnected, so
:meth:`AlpacaBroker.fills_since` reconstructs fills from REST alone: it lists the orders and turns
each observed increase of an order's ``filled_qty`` into one fill whose quantity is the increase
and whose price is the change of ``filled_avg_price x filled_qty`` divided by it. Both paths name a
fill by the same deterministic id, :func:`execution_id_for`: ``"{alpaca order id}:{filled_qty
after the fill}"`` (the cumulative quantity with 9 decimal places), not by the stream's
``execution_id``. So a fill seen on the stream and again by polling has one id and the platform's
dedup by execution id books it once, and polling twice never names one fill two ways.

The trade-off: REST only shows the cumulative state, so two executions that happen between two
polls come back as one fill (their total quantity at their average price), under the id of the
later level. The stream, when it delivered them, named them ``order:level1`` and ``order:level2``;
the REST fill ``order:level2`` then carries more quantity than the stream's fill of that id. The
platform therefore books a fill ``order:N`` as the step from the quantity it has already booked
for the order to ``N`` (nothing when it has booked ``N`` or more), which is exact whichever path
arrived first. A fresh process (a restarted worker) does not know which levels were seen before;
call :meth:`AlpacaBroker.remember_fills` with the fills already booked so that its first poll
continues from them instead of reporting an order's whole filled quantity as one new fill.
REST-derived prices carry the rounding of Alpaca's ``filled_avg_price``; the stream's are exact.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

import requests
from alpaca.common.enums import Sort
from alpaca.common.exceptions import APIError
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderStatus, QueryOrderStatus
from alpaca.trading.models import Order
from alpaca.trading.requests import GetOrdersRequest
from pydantic import ValidationError

from portfolios.core.errors import Conflict, InvalidInput, NotFound
from portfolios.core.money import ZERO, cash, price, quantity, to_decimal
from trading.brokers.base import (
    BrokerAccount,
    BrokerError,
    BrokerFill,
    BrokerOrder,
    BrokerOrderStatus,
    BrokerRejected,
    BrokerTimeout,
)
from trading.core.orders import (
    MAX_CLIENT_ORDER_ID_LENGTH,
    OrderIntent,
    OrderSide,
    OrderType,
    require_aware,
)

if TYPE_CHECKING:
    from requests import Response

logger = logging.getLogger(__name__)

PAPER_BASE_URL = "https://paper-api.alpaca.markets"
LIVE_BASE_URL = "https://api.alpaca.markets"
PAPER_STREAM_URL = "wss://paper-api.alpaca.markets/stream"
LIVE_STREAM_URL = "wss://api.alpaca.markets/stream"

DEFAULT_TIMEOUT_SECONDS = 10.0
DEFAULT_ORDER_LOOKBACK = timedelta(days=7)
"""How far before ``since`` :meth:`AlpacaBroker.fills_since` lists orders: Alpaca filters orders by
submission time, and a day order submitted after Friday's close can still fill on Monday."""

ORDERS_PAGE_SIZE = 500
"""Alpaca's largest page of ``GET /v2/orders``."""

_T = TypeVar("_T")

_FILLED_STATUSES = {OrderStatus.FILLED}
_CANCELED_STATUSES = {OrderStatus.CANCELED, OrderStatus.REPLACED}
_EXPIRED_STATUSES = {OrderStatus.EXPIRED}
_REJECTED_STATUSES = {OrderStatus.REJECTED}

_DUPLICATE_CLIENT_ORDER_ID = "client_order_id must be unique"


def execution_id_for(broker_order_id: str, filled_quantity_after: Decimal) -> str:
    """The platform's id of the fill that brought an Alpaca order to ``filled_quantity_after``.

    Shared by the REST reconcile path and the ``trade_updates`` stream, so the same execution gets
    the same id whichever path reports it. The quantity is written with exactly 9 decimal places,
    so ``"3"`` and ``"3.0"`` from Alpaca give one id.
    """
    return f"{broker_order_id}:{quantity(filled_quantity_after, name='filled_qty'):f}"


def parse_execution_id(execution_id: str) -> tuple[str, Decimal] | None:
    """Split an id made by :func:`execution_id_for` into (order id, level); None for other ids."""
    order_id, sep, level = execution_id.rpartition(":")
    if not sep or not order_id:
        return None
    try:
        return order_id, to_decimal(level, name="execution_id")
    except InvalidInput:
        return None


def format_quantity(value: Decimal) -> str:
    """A quantity as Alpaca reads it: plain digits, no exponent, no trailing zeros."""
    return f"{value.normalize():f}"


def decimal_or_none(value: object, *, name: str) -> Decimal | None:
    """Alpaca's string (or, rarely, float) number as a ``Decimal``; None for null or ``""``."""
    if value is None or value == "":
        return None
    if isinstance(value, Decimal | int | float | str):
        return to_decimal(value, name=name)
    raise InvalidInput(f"{name} is not a number: {value!r}", field=name)


def broker_order_status(status: str, filled_quantity: Decimal) -> BrokerOrderStatus:
    """Map one of Alpaca's 18 order statuses onto the port's seven.

    ``replaced`` counts as canceled (the platform never replaces orders, and the replaced order
    itself trades no more); every non-terminal status is ``partially_filled`` once something has
    filled, ``new`` while Alpaca has not yet acknowledged it (``pending_new``), else ``accepted``.
    """
    alpaca_status = OrderStatus(status)
    if alpaca_status in _FILLED_STATUSES:
        return BrokerOrderStatus.FILLED
    if alpaca_status in _CANCELED_STATUSES:
        return BrokerOrderStatus.CANCELED
    if alpaca_status in _EXPIRED_STATUSES:
        return BrokerOrderStatus.EXPIRED
    if alpaca_status in _REJECTED_STATUSES:
        return BrokerOrderStatus.REJECTED
    if filled_quantity > 0:
        return BrokerOrderStatus.PARTIALLY_FILLED
    if alpaca_status is OrderStatus.PENDING_NEW:
        return BrokerOrderStatus.NEW
    return BrokerOrderStatus.ACCEPTED


def to_broker_order(order: Order) -> BrokerOrder:
    """An alpaca-py ``Order`` as the port's :class:`BrokerOrder`, numbers as ``Decimal``."""
    filled = decimal_or_none(order.filled_qty, name="filled_qty") or ZERO
    ordered = decimal_or_none(order.qty, name="qty")
    average = decimal_or_none(order.filled_avg_price, name="filled_avg_price")
    if order.side is None or order.symbol is None:
        raise InvalidInput(f"Alpaca order {order.id} has no symbol or side (a multi-leg order?)")
    return BrokerOrder(
        client_order_id=order.client_order_id,
        broker_order_id=str(order.id),
        symbol=order.symbol,
        side=OrderSide(order.side.value),
        quantity=quantity(ordered if ordered is not None else filled),
        filled_quantity=quantity(filled),
        average_fill_price=average if filled > 0 and average is not None and average > 0 else None,
        status=broker_order_status(order.status.value, filled),
        submitted_at=order.submitted_at,
    )


@dataclass(frozen=True)
class _FillLevel:
    """How far this adapter has seen one order fill: cumulative quantity and notional."""

    filled_quantity: Decimal
    filled_notional: Decimal


class _TradingClient(TradingClient):
    """``TradingClient`` with a timeout on every request and without alpaca-py's own retries."""

    def __init__(self, *, timeout: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._timeout = timeout
        # RESTClient retries 429 and 504 three times with a 3 s sleep; its constructor treats 0 as
        # "use the default", and TradingClient does not pass the settings through at all.
        self._retry = 0

    def _one_request(self, method: str, url: str, opts: dict, retry: int) -> dict:
        return super()._one_request(method, url, {**opts, "timeout": self._timeout}, retry)


class AlpacaBroker:
    """The broker port on Alpaca's Trading API (one omnibus account, see the module docstring).

    Parameters
    ----------
    api_key, secret_key
        The account's API key pair; kept private, never logged nor shown in ``repr``.
    paper
        Trade the paper account (the default) rather than the live one.
    base_url
        Another endpoint than Alpaca's paper or live one (a proxy, or a fake server in tests).
        Pointing a paper broker at the live host, or the reverse, is refused.
    timeout
        Seconds each HTTP request may take (connect and read) before it fails.
    order_lookback
        How long before ``since`` :meth:`fills_since` looks for orders that may have filled.
    """

    name = "alpaca"

    def __init__(
        self,
        *,
        api_key: str,
        secret_key: str,
        paper: bool = True,
        base_url: str | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        order_lookback: timedelta = DEFAULT_ORDER_LOOKBACK,
    ) -> None:
        if not api_key or not secret_key:
            raise InvalidInput("Alpaca needs both an API key and a secret key", field="api_key")
        if timeout <= 0:
            raise InvalidInput(f"timeout must be positive, got {timeout}", field="timeout")
        if order_lookback < timedelta(0):
            raise InvalidInput("order_lookback must not be negative", field="order_lookback")
        self._paper = paper
        self._base_url = checked_base_url(base_url, paper=paper)
        self._order_lookback = order_lookback
        self._client = _TradingClient(
            timeout=timeout,
            api_key=api_key,
            secret_key=secret_key,
            paper=paper,
            url_override=self._base_url,
        )
        self._lock = threading.Lock()
        self._levels: dict[str, _FillLevel] = {}
        self._derived: dict[str, list[BrokerFill]] = {}

    def __repr__(self) -> str:
        return f"AlpacaBroker(paper={self._paper}, base_url={self._base_url!r})"

    @property
    def paper(self) -> bool:
        return self._paper

    @property
    def base_url(self) -> str:
        """The REST endpoint the adapter talks to (without the ``/v2`` version)."""
        return self._base_url

    # -- orders -------------------------------------------------------------------------------

    def submit_order(self, intent: OrderIntent, *, now: datetime) -> BrokerOrder:
        """Send a market or limit day order under the intent's client order id.

        Submitting the same intent again returns the order Alpaca already holds (Alpaca answers
        the second POST with 422 "client_order_id must be unique", and the adapter looks it up).
        A :class:`BrokerTimeout` means the order may exist: look it up with :meth:`get_order`
        before trying again (trying again is safe too, for the same reason).
        """
        require_aware(now, name="now")
        check_client_order_id(intent.client_order_id)
        body = order_body(intent)
        logger.info(
            "submitting %s %s %s (%s) to Alpaca as %s",
            intent.side.value,
            body["qty"],
            intent.symbol,
            intent.order_type.value,
            intent.client_order_id,
        )
        try:
            raw = self._call(
                "submit order", lambda: self._client.post("/orders", body), passthrough=(422,)
            )
        except _StatusError as exc:
            if _DUPLICATE_CLIENT_ORDER_ID not in exc.message.lower():
                raise exc.mapped("submit order") from exc.__cause__
            existing = self._order_by_client_id(intent.client_order_id)
            if existing is None:
                raise BrokerError(
                    f"Alpaca calls client_order_id {intent.client_order_id!r} a duplicate but "
                    "returns no order for it"
                ) from None
            ensure_same_order(existing, intent)
            logger.info("Alpaca already holds %s; returning it", intent.client_order_id)
            return self._convert(to_broker_order, existing)
        if not isinstance(raw, Mapping):
            raise BrokerError(f"Alpaca answered the order submission with {type(raw).__name__}")
        order = self._convert(lambda data: Order(**data), raw)
        return self._convert(to_broker_order, order)

    def get_order(self, client_order_id: str) -> BrokerOrder | None:
        """Alpaca's view of the order with this client order id, or None when it has none."""
        order = self._order_by_client_id(client_order_id)
        return None if order is None else self._convert(to_broker_order, order)

    def cancel_order(self, client_order_id: str) -> None:
        """Cancel an open order; canceling a canceled order does nothing.

        Raises :class:`~portfolios.core.errors.NotFound` for an id Alpaca does not know and
        :class:`~portfolios.core.errors.Conflict` for an order that already filled, expired or
        was rejected.
        """
        order = self._order_by_client_id(client_order_id)
        if order is None:
            raise NotFound(f"Alpaca has no order with client_order_id {client_order_id!r}")
        if order.status in _CANCELED_STATUSES:
            return
        if order.status in _FILLED_STATUSES | _EXPIRED_STATUSES | _REJECTED_STATUSES:
            raise Conflict(
                f"order {client_order_id} is {order.status.value} and can no longer be canceled",
                field="client_order_id",
            )
        try:
            self._call(
                "cancel order",
                lambda: self._client.cancel_order_by_id(order.id),
                passthrough=(404, 422),
            )
        except _StatusError:
            # Alpaca answers 422 when the order left the open states meanwhile (filled, say).
            latest = self._order_by_client_id(client_order_id)
            if latest is not None and latest.status in _CANCELED_STATUSES:
                return
            state = latest.status.value if latest is not None else "unknown"
            raise Conflict(
                f"order {client_order_id} is {state} and can no longer be canceled",
                field="client_order_id",
            ) from None
        logger.info("asked Alpaca to cancel %s", client_order_id)

    def open_orders(self) -> Sequence[BrokerOrder]:
        """Every order Alpaca still works (new, accepted, partially filled...), oldest first."""
        orders = self._list_orders(QueryOrderStatus.OPEN, after=None)
        return [self._convert(to_broker_order, order) for order in orders]

    # -- fills --------------------------------------------------------------------------------

    def fills_since(self, since: datetime | None, *, now: datetime) -> Sequence[BrokerFill]:
        """Fills executed after ``since`` (all seen when None), oldest first, from REST alone.

        Each call lists the orders submitted from ``since - order_lookback`` on and records every
        new increase of an order's filled quantity as one fill (see the module docstring for the
        ids and the trade-off). Calling again returns the same fills under the same ids, plus any
        new ones. ``now`` is only checked for a time zone: Alpaca's clock stamps the fills.
        """
        require_aware(now, name="now")
        if since is not None:
            require_aware(since, name="since")
        after = None if since is None else since - self._order_lookback
        orders = self._list_orders(QueryOrderStatus.ALL, after=after)
        with self._lock:
            for order in orders:
                if order.symbol is None or order.side is None:
                    continue  # multi-leg orders: the platform never places them
                self._convert(self._observe, order)
            fills = [
                fill
                for derived in self._derived.values()
                for fill in derived
                if since is None or fill.executed_at > since
            ]
        fills.sort(key=lambda fill: (fill.executed_at, fill.execution_id))
        return fills

    def remember_fills(self, fills: Iterable[BrokerFill]) -> None:
        """Tell the adapter which fills are already booked, so polling continues after them.

        Fills whose id is not of :func:`execution_id_for`'s form are ignored. Remembered fills
        are not returned by :meth:`fills_since`; only fills found after them are.
        """
        totals: dict[str, _FillLevel] = {}
        for fill in fills:
            parsed = parse_execution_id(fill.execution_id)
            if parsed is None:
                continue
            order_id, filled_after = parsed
            known = totals.get(order_id, _FillLevel(ZERO, ZERO))
            totals[order_id] = _FillLevel(
                max(known.filled_quantity, filled_after),
                known.filled_notional + fill.quantity * fill.price,
            )
        with self._lock:
            for order_id, booked in totals.items():
                current = self._levels.get(order_id)
                if current is None or booked.filled_quantity > current.filled_quantity:
                    self._levels[order_id] = booked

    # -- holdings -----------------------------------------------------------------------------

    def positions(self) -> dict[str, Decimal]:
        """Quantity per symbol in the omnibus account; short positions are negative."""
        held = self._call("list positions", self._client.get_all_positions)
        if not isinstance(held, list):
            raise BrokerError(f"Alpaca answered the position list with {type(held).__name__}")
        result: dict[str, Decimal] = {}
        for position in held:
            if isinstance(position, Mapping):
                raise BrokerError("Alpaca answered the position list with raw data")
            result[position.symbol] = self._convert(
                lambda p: quantity(p.qty, name=f"{p.symbol} qty"), position
            )
        return result

    def account(self) -> BrokerAccount:
        """Cash, buying power and equity of the omnibus account, rounded to cents."""
        account = self._call("read account", self._client.get_account)
        if isinstance(account, Mapping):
            raise BrokerError("Alpaca answered the account request with raw data")

        def convert(data: Any) -> BrokerAccount:
            return BrokerAccount(
                cash=cash(data.cash, name="cash"),
                buying_power=cash(data.buying_power, name="buying_power"),
                equity=cash(data.equity, name="equity"),
            )

        return self._convert(convert, account)

    # -- internals ----------------------------------------------------------------------------

    def _observe(self, order: Order) -> None:
        """Record the fill (if any) by which ``order`` moved past the level seen before."""
        filled = decimal_or_none(order.filled_qty, name="filled_qty") or ZERO
        if filled <= 0:
            return
        order_id = str(order.id)
        known = self._levels.get(order_id, _FillLevel(ZERO, ZERO))
        if filled < known.filled_quantity:
            logger.warning(
                "Alpaca order %s filled quantity went down from %s to %s (a busted trade?)",
                order_id,
                known.filled_quantity,
                filled,
            )
            return
        if filled == known.filled_quantity:
            return
        average = decimal_or_none(order.filled_avg_price, name="filled_avg_price")
        if average is None or average <= 0:
            # Alpaca can report a fill before its average price; pick it up on the next poll.
            return
        notional = average * filled
        step = filled - known.filled_quantity
        step_price = price((notional - known.filled_notional) / step, name="fill price")
        if step_price <= 0:
            step_price = price(average, name="fill price")
        broker_order = to_broker_order(order)
        executed_at = order.updated_at
        if order.status in _FILLED_STATUSES and order.filled_at is not None:
            executed_at = order.filled_at
        fill = BrokerFill(
            execution_id=execution_id_for(order_id, filled),
            client_order_id=order.client_order_id,
            symbol=broker_order.symbol,
            side=broker_order.side,
            quantity=quantity(step),
            price=step_price,
            fee=ZERO,
            executed_at=executed_at,
        )
        self._levels[order_id] = _FillLevel(filled, notional)
        self._derived.setdefault(order_id, []).append(fill)

    def _order_by_client_id(self, client_order_id: str) -> Order | None:
        try:
            order = self._call(
                "look up order",
                lambda: self._client.get_order_by_client_id(client_order_id),
                passthrough=(404,),
            )
        except _StatusError as exc:
            if exc.status == 404:
                return None
            raise exc.mapped("look up order") from exc.__cause__
        if not isinstance(order, Order):
            raise BrokerError(f"Alpaca answered the order lookup with {type(order).__name__}")
        return order

    def _list_orders(self, status: QueryOrderStatus, *, after: datetime | None) -> list[Order]:
        """Every order with ``status`` submitted after ``after``, oldest first, across pages."""
        seen: dict[str, Order] = {}
        cursor = after
        while True:
            request = GetOrdersRequest(
                status=status, limit=ORDERS_PAGE_SIZE, direction=Sort.ASC, after=cursor
            )
            page = self._call("list orders", functools.partial(self._client.get_orders, request))
            if not isinstance(page, list):
                raise BrokerError(f"Alpaca answered the order list with {type(page).__name__}")
            new = [
                order for order in page if isinstance(order, Order) and str(order.id) not in seen
            ]
            for order in new:
                seen[str(order.id)] = order
            if len(page) < ORDERS_PAGE_SIZE:
                break
            # ``after`` is exclusive. Step back a microsecond so that orders submitted in the same
            # instant as the page's last one are not skipped (``seen`` drops the repeats); once a
            # page brings nothing new, step past its last instant instead. (More than a page of
            # orders within one microsecond cannot be paged by time at all.)
            last = max(order.submitted_at for order in page if isinstance(order, Order))
            cursor = last - timedelta(microseconds=1) if new else last
        return sorted(seen.values(), key=lambda order: order.submitted_at)  # stable: ties keep
        # the order Alpaca listed them in

    def _call(
        self, action: str, request: Callable[[], _T], *, passthrough: tuple[int, ...] = ()
    ) -> _T:
        """Run one alpaca-py call and translate its failures into the port's errors.

        An HTTP error whose status is in ``passthrough`` is raised as :class:`_StatusError` for
        the caller to interpret (a 404 on a lookup, a 422 duplicate on a submission).
        """
        try:
            return request()
        except APIError as exc:
            status = exc.status_code
            body = _error_body(exc)
            message = str(body.get("message") or _response_text(exc.response))
            if status in passthrough:
                raise _StatusError(status, body, message, exc.response) from exc
            raise map_api_error(
                status, body, message, action=action, response=exc.response
            ) from exc
        except requests.exceptions.ConnectTimeout as exc:
            raise BrokerError(f"could not reach Alpaca to {action}: {exc}") from exc
        except requests.exceptions.Timeout as exc:
            raise BrokerTimeout(
                f"Alpaca did not answer in time to {action}; it may have acted on the request"
            ) from exc
        except requests.exceptions.ConnectionError as exc:
            raise BrokerError(f"could not reach Alpaca to {action}: {exc}") from exc
        except requests.exceptions.RequestException as exc:
            raise BrokerError(f"the request to {action} at Alpaca failed: {exc}") from exc
        except (ValidationError, ValueError) as exc:
            raise BrokerError(f"Alpaca's answer to {action} is malformed: {exc}") from exc

    @staticmethod
    def _convert(convert: Callable[[Any], _T], data: Any) -> _T:
        """Apply a conversion of Alpaca data, reporting malformed data as a broker fault."""
        try:
            return convert(data)
        except (ValidationError, InvalidInput, ValueError, TypeError) as exc:
            raise BrokerError(f"Alpaca returned data the platform cannot read: {exc}") from exc


class _StatusError(Exception):
    """An HTTP error answer that the calling method interprets itself."""

    def __init__(
        self, status: int | None, body: Mapping[str, Any], message: str, response: Response | None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = body
        self.message = message
        self.response = response

    def mapped(self, action: str) -> Exception:
        """The port's error for this answer, as any other call would raise it."""
        return map_api_error(
            self.status, self.body, self.message, action=action, response=self.response
        )


def check_client_order_id(client_order_id: str) -> None:
    """Refuse a client order id Alpaca would refuse: longer than 48 characters."""
    if len(client_order_id) > MAX_CLIENT_ORDER_ID_LENGTH:
        raise InvalidInput(
            f"client_order_id is {len(client_order_id)} characters long; Alpaca accepts at most "
            f"{MAX_CLIENT_ORDER_ID_LENGTH}: {client_order_id!r}",
            field="client_order_id",
        )


def order_body(intent: OrderIntent) -> dict[str, str]:
    """The JSON body of ``POST /v2/orders`` for an intent, numbers as exact strings.

    alpaca-py's ``MarketOrderRequest`` would turn the quantity into a float; the body is built
    here instead so that 9-decimal quantities reach Alpaca exactly.
    """
    body = {
        "symbol": intent.symbol,
        "qty": format_quantity(intent.quantity),
        "side": intent.side.value,
        "type": intent.order_type.value,
        "time_in_force": intent.time_in_force.value,
        "client_order_id": intent.client_order_id,
    }
    if intent.order_type is OrderType.LIMIT and intent.limit_price is not None:
        body["limit_price"] = format_quantity(intent.limit_price)
    return body


def ensure_same_order(order: Order, intent: OrderIntent) -> None:
    """Raise :class:`Conflict` when the order Alpaca holds under the id differs from the intent."""
    ordered = decimal_or_none(order.qty, name="qty")
    limit = decimal_or_none(order.limit_price, name="limit_price")
    differences = []
    if order.symbol != intent.symbol:
        differences.append(f"symbol {order.symbol} != {intent.symbol}")
    if order.side is None or order.side.value != intent.side.value:
        differences.append(f"side {order.side} != {intent.side.value}")
    if ordered != intent.quantity:
        differences.append(f"qty {ordered} != {intent.quantity}")
    if order.type is not None and order.type.value != intent.order_type.value:
        differences.append(f"type {order.type.value} != {intent.order_type.value}")
    if intent.limit_price is not None and limit != intent.limit_price:
        differences.append(f"limit_price {limit} != {intent.limit_price}")
    if differences:
        raise Conflict(
            f"Alpaca already holds a different order under client_order_id "
            f"{intent.client_order_id}: {'; '.join(differences)}",
            field="client_order_id",
        )


def map_api_error(
    status: int | None,
    body: Mapping[str, Any],
    message: str,
    *,
    action: str,
    response: Response | None = None,
) -> Exception:
    """The port's error for an error answer of Alpaca (see the table in the module docstring)."""
    code = body.get("code")
    described = f"Alpaca refused to {action} (HTTP {status}, code {code}): {message}"
    if status is None:
        return BrokerError(f"Alpaca failed to {action}: {message}")
    if status == 429:
        return BrokerError(
            f"Alpaca rate-limited the request to {action}: {message}",
            retry_after=retry_after_seconds(response),
        )
    if status >= 500:
        return BrokerError(f"Alpaca failed to {action} (HTTP {status}): {message}")
    lowered = message.lower()
    if status == 401:
        return BrokerRejected(described, code="forbidden")
    if "wash trade" in lowered:
        return BrokerRejected(described, code="wash_trade")
    if "buying power" in lowered:
        return BrokerRejected(described, code="insufficient_buying_power")
    if "insufficient qty" in lowered or "insufficient quantity" in lowered:
        return BrokerRejected(described, code="insufficient_quantity")
    if "asset" in lowered and any(
        word in lowered for word in ("not tradable", "not active", "not found", "inactive")
    ):
        return BrokerRejected(described, code="not_tradable")
    if status in (400, 422) and any(
        word in lowered for word in ("qty", "quantity", "fractional", "fractionable")
    ):
        return BrokerRejected(described, code="invalid_quantity")
    if status in (400, 422) and any(
        word in lowered for word in ("limit_price", "limit price", "sub-penny")
    ):
        return BrokerRejected(described, code="invalid_price")
    if status == 403:
        return BrokerRejected(described, code="forbidden")
    return BrokerRejected(described, code="unknown")


def retry_after_seconds(response: Response | None) -> float | None:
    """Seconds to wait from a 429 answer: ``Retry-After`` (seconds or a date), else None."""
    if response is None:
        return None
    header = response.headers.get("Retry-After")
    if not header:
        return None
    header = header.strip()
    try:
        return max(float(header), 0.0)
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(header)
        sent = parsedate_to_datetime(response.headers.get("Date", ""))
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None or sent.tzinfo is None:
        return None
    return max((moment - sent).total_seconds(), 0.0)


def _error_body(exc: APIError) -> dict[str, Any]:
    try:
        body = json.loads(str(exc))
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _response_text(response: Response | None) -> str:
    if response is None:
        return ""
    return response.text[:200]


def checked_base_url(base_url: str | None, *, paper: bool) -> str:
    """The REST base URL for the mode, refusing a paper broker on the live host and vice versa."""
    default = PAPER_BASE_URL if paper else LIVE_BASE_URL
    if not base_url:
        return default
    url = base_url.strip().rstrip("/")
    url = url.removesuffix("/v2")
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise InvalidInput(f"ALPACA_BASE_URL is not an http(s) URL: {base_url!r}", field="base_url")
    live_host = urlsplit(LIVE_BASE_URL).hostname
    paper_host = urlsplit(PAPER_BASE_URL).hostname
    if paper and parts.hostname == live_host:
        raise InvalidInput(
            f"paper trading is selected but ALPACA_BASE_URL points at the live endpoint {url}; "
            "set TRADING_MODE=live to trade live",
            field="base_url",
        )
    if not paper and parts.hostname == paper_host:
        raise InvalidInput(
            f"live trading is selected but ALPACA_BASE_URL points at the paper endpoint {url}",
            field="base_url",
        )
    return url


def stream_url_for(*, paper: bool, base_url: str | None) -> str:
    """The ``trade_updates`` websocket URL that goes with a REST base URL."""
    if not base_url:
        return PAPER_STREAM_URL if paper else LIVE_STREAM_URL
    url = checked_base_url(base_url, paper=paper)
    scheme, rest = url.split("://", 1)
    return f"{'wss' if scheme == 'https' else 'ws'}://{rest}/stream"


def alpaca_broker_from_settings(**overrides: Any) -> AlpacaBroker:
    """The broker configured by Django settings: ``ALPACA_API_KEY``, ``ALPACA_SECRET_KEY``,
    ``ALPACA_BASE_URL`` (optional) and ``TRADING_MODE`` (``live`` or anything else for paper).

    ``overrides`` go to :class:`AlpacaBroker` (``timeout``, ``order_lookback``).
    """
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    api_key = getattr(settings, "ALPACA_API_KEY", "")
    secret_key = getattr(settings, "ALPACA_SECRET_KEY", "")
    if not api_key or not secret_key:
        raise ImproperlyConfigured("the Alpaca broker needs ALPACA_API_KEY and ALPACA_SECRET_KEY")
    paper = getattr(settings, "TRADING_MODE", "paper") != "live"
    try:
        return AlpacaBroker(
            api_key=api_key,
            secret_key=secret_key,
            paper=paper,
            base_url=getattr(settings, "ALPACA_BASE_URL", "") or None,
            **overrides,
        )
    except InvalidInput as exc:
        raise ImproperlyConfigured(str(exc)) from exc
