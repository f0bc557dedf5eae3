"""A fake Alpaca Trading API for tests: the REST endpoints the platform uses, on 127.0.0.1.

:class:`FakeAlpaca` runs a ``ThreadingHTTPServer`` in a background thread on a free port and
speaks the part of Alpaca's REST API v2 that the adapter and alpaca-py's ``TradingClient`` call:

- ``GET /v2/account``, ``GET /v2/positions``, ``GET /v2/positions/{symbol}``,
  ``GET /v2/assets/{symbol}``;
- ``POST /v2/orders``, ``GET /v2/orders`` (``status=open|closed|all``, ``after``, ``until``,
  ``limit``, ``direction``, ``symbols``, ``side``), ``GET /v2/orders/{id}``,
  ``GET /v2/orders:by_client_order_id``, ``DELETE /v2/orders/{id}``, ``DELETE /v2/orders``.

It authenticates by the ``APCA-API-KEY-ID`` / ``APCA-API-SECRET-KEY`` headers (401 without them,
403 with wrong ones) and answers in Alpaca's JSON shapes: ids are UUIDs, times RFC 3339 with
nanoseconds, numbers strings, errors ``{"code": 40310000, "message": "..."}``. It enforces what
Alpaca enforces on submission: a unique ``client_order_id`` (422), a positive quantity with at most
9 decimals and whole shares for assets that are not fractionable (422), penny limit prices (422),
no order that could trade against an open opposite-side order of the same symbol (403 "potential
wash trade detected"), buying power for buys (403 "insufficient buying power") and held shares for
sells (403 "insufficient qty available"; the fake account does not sell short).

Nothing fills by itself: a test calls :meth:`FakeAlpaca.fill` (partial or full), or sets
``auto_fill_market`` so market orders fill at the asset's price when submitted. Fills move
positions and cash and append ``trade_updates`` messages, shaped as Alpaca streams them, to
:attr:`FakeAlpaca.trade_updates`; :meth:`FakeAlpaca.start_stream` also serves them on a
websocket speaking Alpaca's stream protocol. Faults on demand: :meth:`FakeAlpaca.fail_next`
(429 with ``Retry-After``, 500, 503...), :meth:`FakeAlpaca.delay_next_submission` (the order is
accepted but the answer comes late), and :meth:`FakeAlpaca.stop` / :meth:`FakeAlpaca.restart`
(connection refused, then back on the same port with the same state).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

OPEN_STATUSES = frozenset(
    {
        "new",
        "partially_filled",
        "accepted",
        "pending_new",
        "accepted_for_bidding",
        "pending_cancel",
        "pending_replace",
        "held",
        "calculated",
        "stopped",
        "suspended",
    }
)
"""Alpaca statuses that ``GET /v2/orders?status=open`` lists."""

MAX_CLIENT_ORDER_ID_LENGTH = 48
MAX_ORDERS_PAGE = 500
_QUANTITY_PLACES = 9
_AVERAGE_PRICE_QUANT = Decimal("1e-9")

INSUFFICIENT_BUYING_POWER = "insufficient buying power"
WASH_TRADE = "potential wash trade detected. use complex orders"
DUPLICATE_CLIENT_ORDER_ID = "client_order_id must be unique"


class FakeAlpacaError(Exception):
    """An Alpaca error answer: HTTP status and JSON body."""

    def __init__(self, status: int, code: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"code": code, "message": message, **extra}


def _rfc3339(moment: datetime | None) -> str | None:
    """Alpaca's timestamp format: UTC, nanosecond digits, ``Z``."""
    if moment is None:
        return None
    moment = moment.astimezone(UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond:06d}000Z"


def _text(value: Decimal) -> str:
    """A number as Alpaca writes it: a plain decimal string without trailing zeros."""
    if value == 0:
        return "0"
    return f"{value.normalize():f}"


def _parse_time(text: str | None, name: str) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.strip().replace(" ", "+"))
    except ValueError:
        raise FakeAlpacaError(422, 40010001, f"{name} is not a valid RFC 3339 time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


@dataclass
class FakeAsset:
    """A listed asset: its last price moves with fills and :meth:`FakeAlpaca.set_price`."""

    symbol: str
    price: Decimal
    fractionable: bool = True
    tradable: bool = True
    exchange: str = "NASDAQ"
    id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "class": "us_equity",
            "exchange": self.exchange,
            "symbol": self.symbol,
            "name": f"{self.symbol} Inc. Common Stock",
            "status": "active" if self.tradable else "inactive",
            "tradable": self.tradable,
            "marginable": True,
            "maintenance_margin_requirement": 30,
            "shortable": True,
            "easy_to_borrow": True,
            "fractionable": self.fractionable,
            "attributes": ["fractional_eh_enabled"] if self.fractionable else [],
        }


@dataclass
class FakeOrder:
    """One order as the fake broker holds it."""

    id: str
    client_order_id: str
    symbol: str
    asset_id: str
    side: str
    order_type: str
    time_in_force: str
    qty: Decimal
    limit_price: Decimal | None
    created_at: datetime
    sequence: int
    status: str = "new"
    filled_qty: Decimal = Decimal(0)
    filled_notional: Decimal = Decimal(0)
    updated_at: datetime | None = None
    filled_at: datetime | None = None
    canceled_at: datetime | None = None
    expired_at: datetime | None = None

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def remaining(self) -> Decimal:
        return self.qty - self.filled_qty

    @property
    def filled_avg_price(self) -> Decimal | None:
        if self.filled_qty == 0:
            return None
        return (self.filled_notional / self.filled_qty).quantize(
            _AVERAGE_PRICE_QUANT, rounding=ROUND_HALF_EVEN
        )

    def to_json(self) -> dict[str, Any]:
        average = self.filled_avg_price
        return {
            "id": self.id,
            "client_order_id": self.client_order_id,
            "created_at": _rfc3339(self.created_at),
            "updated_at": _rfc3339(self.updated_at or self.created_at),
            "submitted_at": _rfc3339(self.created_at),
            "filled_at": _rfc3339(self.filled_at),
            "expired_at": _rfc3339(self.expired_at),
            "canceled_at": _rfc3339(self.canceled_at),
            "failed_at": None,
            "replaced_at": None,
            "replaced_by": None,
            "replaces": None,
            "asset_id": self.asset_id,
            "symbol": self.symbol,
            "asset_class": "us_equity",
            "notional": None,
            "qty": _text(self.qty),
            "filled_qty": _text(self.filled_qty),
            "filled_avg_price": None if average is None else _text(average),
            "order_class": "",
            "order_type": self.order_type,
            "type": self.order_type,
            "side": self.side,
            "position_intent": "buy_to_open" if self.side == "buy" else "sell_to_close",
            "time_in_force": self.time_in_force,
            "limit_price": None if self.limit_price is None else _text(self.limit_price),
            "stop_price": None,
            "status": self.status,
            "extended_hours": False,
            "legs": None,
            "trail_percent": None,
            "trail_price": None,
            "hwm": None,
            "expires_at": None,
            "source": None,
            "subtag": None,
        }


@dataclass
class _Position:
    qty: Decimal = Decimal(0)
    cost_basis: Decimal = Decimal(0)


@dataclass
class _Fault:
    status: int
    retry_after: str | None


class FakeAlpaca:
    """The fake broker; see the module docstring.

    Parameters
    ----------
    api_key, secret_key
        The key pair requests must carry.
    cash
        Opening cash of the account (there is no margin: buying power is cash less open buys).
    assets
        Tradable assets; more can be added with :meth:`add_asset`.
    auto_fill_market
        Fill market orders fully at the asset's price as soon as they are submitted.
    """

    def __init__(
        self,
        *,
        api_key: str = "PKFAKE0000000000TEST",
        secret_key: str = "fake-secret-0123456789abcdefghijklmnopqrstuv",
        cash: Decimal = Decimal("100000"),
        assets: Mapping[str, Decimal] | None = None,
        auto_fill_market: bool = False,
    ) -> None:
        self.api_key = api_key
        self.secret_key = secret_key
        self.auto_fill_market = auto_fill_market
        self.account_id = str(uuid.uuid4())
        self.account_number = "PA3FAKE0001"
        self.opening_cash = cash
        self.cash = cash
        self._lock = threading.RLock()
        self.assets: dict[str, FakeAsset] = {}
        for symbol, last in (
            assets or {"AAPL": Decimal("190.00"), "MSFT": Decimal("410.00")}
        ).items():
            self.add_asset(symbol, last)
        self.orders: dict[str, FakeOrder] = {}
        self.positions: dict[str, _Position] = {}
        self.trade_updates: list[dict[str, Any]] = []
        self.requests: list[tuple[str, str]] = []
        self.submissions: list[dict[str, Any]] = []
        self._by_client_id: dict[str, str] = {}
        self._sequence = 0
        self._now: datetime | None = None
        self._faults: list[_Fault] = []
        self._submission_delays: list[float] = []
        self._wake = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._port = 0
        self._stream: _TradeUpdatesServer | None = None

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> FakeAlpaca:
        """Listen on 127.0.0.1 (a free port the first time, the same port after that)."""
        if self._server is not None:
            return self
        server = ThreadingHTTPServer(("127.0.0.1", self._port), _Handler)
        server.daemon_threads = True
        server.fake = self  # type: ignore[attr-defined]
        self._server = server
        self._port = server.server_address[1]
        self._wake = threading.Event()
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"fake-alpaca-{self._port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening: connections are refused until :meth:`restart`. State is kept."""
        server, self._server = self._server, None
        self._wake.set()  # release answers held back by delay_next_submission
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def restart(self) -> FakeAlpaca:
        """Listen again on the same port, with the same orders, positions and cash."""
        self.stop()
        return self.start()

    def close(self) -> None:
        """Stop the REST server and the stream server."""
        self.stop()
        if self._stream is not None:
            self._stream.stop()
            self._stream = None

    def __enter__(self) -> FakeAlpaca:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        """The URL to give the adapter (``TradingClient`` appends ``/v2``)."""
        if not self._port:
            raise RuntimeError("the fake Alpaca server has not been started")
        return f"http://127.0.0.1:{self._port}"

    @property
    def is_running(self) -> bool:
        return self._server is not None

    # -- clock --------------------------------------------------------------------------------

    def now(self) -> datetime:
        """The fake's clock: the time set by :meth:`set_time`, else the real UTC time."""
        with self._lock:
            return self._now if self._now is not None else datetime.now(UTC)

    def set_time(self, moment: datetime) -> None:
        if moment.tzinfo is None:
            raise ValueError("the fake's clock needs an aware datetime")
        with self._lock:
            self._now = moment

    def advance(self, delta: timedelta) -> datetime:
        """Move a set clock forward (setting it to the real time first if it was not set)."""
        with self._lock:
            self._now = self.now() + delta
            return self._now

    # -- market and faults --------------------------------------------------------------------

    def add_asset(
        self, symbol: str, last_price: Decimal, *, fractionable: bool = True, tradable: bool = True
    ) -> FakeAsset:
        asset = FakeAsset(symbol, Decimal(last_price), fractionable, tradable)
        with self._lock:
            self.assets[symbol] = asset
        return asset

    def set_price(self, symbol: str, last_price: Decimal) -> None:
        with self._lock:
            self.assets[symbol].price = Decimal(last_price)

    def fail_next(self, count: int, status: int, *, retry_after: float | str | None = None) -> None:
        """Answer the next ``count`` authenticated requests with ``status`` (429, 500, 503...)."""
        with self._lock:
            header = None if retry_after is None else str(retry_after)
            self._faults.extend(_Fault(status, header) for _ in range(count))

    def delay_next_submission(self, seconds: float) -> None:
        """Accept the next order at once but hold the answer back ``seconds`` (or until stop)."""
        with self._lock:
            self._submission_delays.append(seconds)

    # -- orders -------------------------------------------------------------------------------

    def order(self, client_order_id: str) -> FakeOrder:
        with self._lock:
            return self.orders[self._by_client_id[client_order_id]]

    @property
    def order_count(self) -> int:
        with self._lock:
            return len(self.orders)

    def count_requests(self, method: str, path: str) -> int:
        with self._lock:
            return sum(1 for seen in self.requests if seen == (method, path))

    def fill(
        self, client_order_id: str, qty: Decimal | str, price: Decimal | str
    ) -> dict[str, Any]:
        """Execute ``qty`` of an open order at ``price``; returns the ``trade_updates`` message."""
        qty, price = Decimal(qty), Decimal(price)
        with self._lock:
            order = self.order(client_order_id)
            if not order.is_open:
                raise ValueError(f"order {client_order_id} is {order.status}, not open")
            if qty <= 0 or qty > order.remaining:
                raise ValueError(f"cannot fill {qty} of {order.remaining} remaining")
            if price <= 0:
                raise ValueError("fill price must be positive")
            if order.limit_price is not None and (
                (order.side == "buy" and price > order.limit_price)
                or (order.side == "sell" and price < order.limit_price)
            ):
                raise ValueError(f"{price} is through the limit {order.limit_price}")
            now = self.now()
            order.filled_qty += qty
            order.filled_notional += qty * price
            order.updated_at = now
            if order.remaining == 0:
                order.status = "filled"
                order.filled_at = now
            else:
                order.status = "partially_filled"
            position = self.positions.setdefault(order.symbol, _Position())
            if order.side == "buy":
                self.cash -= qty * price
                position.qty += qty
                position.cost_basis += qty * price
            else:
                self.cash += qty * price
                average_entry = position.cost_basis / position.qty if position.qty else Decimal(0)
                position.qty -= qty
                position.cost_basis -= average_entry * qty
            if position.qty == 0:
                del self.positions[order.symbol]
            self.assets[order.symbol].price = price
            event = "fill" if order.status == "filled" else "partial_fill"
            return self._emit(
                event,
                order,
                now,
                execution_id=str(uuid.uuid4()),
                position_qty=_text(position.qty),
                price=_text(price),
                qty=_text(qty),
            )

    def expire_day_orders(self) -> list[str]:
        """Expire every open day order (the session closed); returns their client order ids."""
        expired = []
        with self._lock:
            now = self.now()
            for order in self.orders.values():
                if order.is_open and order.time_in_force == "day":
                    order.status = "expired"
                    order.expired_at = order.updated_at = now
                    self._emit("expired", order, now)
                    expired.append(order.client_order_id)
        return expired

    # -- the trade_updates websocket ----------------------------------------------------------

    def start_stream(self) -> str:
        """Serve ``trade_updates`` on a websocket; returns its URL (``ws://127.0.0.1:N/stream``)."""
        if self._stream is None:
            self._stream = _TradeUpdatesServer(self.api_key, self.secret_key)
            self._stream.start()
        return self._stream.url

    def wait_for_stream_listener(self, timeout: float = 5.0) -> bool:
        """Wait until a stream client has authenticated and listens to ``trade_updates``."""
        if self._stream is None:
            raise RuntimeError("start_stream() first")
        return self._stream.listening.wait(timeout)

    # -- request handling (called by the handler threads) -------------------------------------

    def handle(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: Mapping[str, str],
        body: bytes,
    ) -> tuple[int, Any, dict[str, str], float]:
        """Answer one request: (status, JSON body or None, extra headers, seconds to hold back).

        ``headers`` has lower-case names.
        """
        with self._lock:
            self.requests.append((method, path))
        key, secret = headers.get("apca-api-key-id"), headers.get("apca-api-secret-key")
        if not key or not secret:
            return 401, {"code": 40110000, "message": "unauthorized."}, {}, 0.0
        if key != self.api_key or secret != self.secret_key:
            return 403, {"code": 40310000, "message": "forbidden."}, {}, 0.0
        with self._lock:
            fault = self._faults.pop(0) if self._faults else None
        if fault is not None:
            return self._fault_answer(fault)
        try:
            return self._route(method, path, query, body)
        except FakeAlpacaError as exc:
            return exc.status, exc.body, {}, 0.0

    def _fault_answer(self, fault: _Fault) -> tuple[int, Any, dict[str, str], float]:
        extra = {}
        if fault.status == 429:
            message = "rate limit exceeded"
            if fault.retry_after is not None:
                extra["Retry-After"] = fault.retry_after
        elif fault.status == 503:
            message = "service unavailable"
        elif fault.status == 504:
            message = "gateway timeout"
        else:
            message = "internal server error"
        return fault.status, {"code": fault.status * 100000, "message": message}, extra, 0.0

    def _route(
        self, method: str, path: str, query: dict[str, list[str]], body: bytes
    ) -> tuple[int, Any, dict[str, str], float]:
        parts = path.rstrip("/").split("/")
        if path == "/v2/account" and method == "GET":
            return 200, self._account_json(), {}, 0.0
        if path == "/v2/positions" and method == "GET":
            with self._lock:
                return 200, [self._position_json(s) for s in sorted(self.positions)], {}, 0.0
        if len(parts) == 4 and parts[2] == "positions" and method == "GET":
            with self._lock:
                if parts[3] not in self.positions:
                    raise FakeAlpacaError(404, 40410000, "position does not exist")
                return 200, self._position_json(parts[3]), {}, 0.0
        if len(parts) == 4 and parts[2] == "assets" and method == "GET":
            asset = self.assets.get(parts[3])
            if asset is None:
                raise FakeAlpacaError(404, 40410000, "asset not found")
            return 200, asset.to_json(), {}, 0.0
        if path == "/v2/orders" and method == "POST":
            return self._submit(body)
        if path == "/v2/orders" and method == "GET":
            return 200, self._list_orders(query), {}, 0.0
        if path == "/v2/orders" and method == "DELETE":
            return 207, self._cancel_all(), {}, 0.0
        if path == "/v2/orders:by_client_order_id" and method == "GET":
            client_order_id = (query.get("client_order_id") or [""])[0]
            with self._lock:
                order_id = self._by_client_id.get(client_order_id)
                if order_id is None:
                    raise FakeAlpacaError(404, 40410000, "order not found")
                return 200, self.orders[order_id].to_json(), {}, 0.0
        if len(parts) == 4 and parts[2] == "orders" and method in {"GET", "DELETE"}:
            with self._lock:
                order = self.orders.get(parts[3])
                if order is None:
                    raise FakeAlpacaError(404, 40410000, "order not found")
                if method == "GET":
                    return 200, order.to_json(), {}, 0.0
                self._cancel(order)
                return 204, None, {}, 0.0
        raise FakeAlpacaError(404, 40410000, "endpoint not found")

    def _submit(self, raw: bytes) -> tuple[int, Any, dict[str, str], float]:
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            raise FakeAlpacaError(400, 40010000, "request body format is invalid") from None
        if not isinstance(body, dict):
            raise FakeAlpacaError(400, 40010000, "request body format is invalid")
        with self._lock:
            self.submissions.append(body)
            order = self._accept(body)
            if self.auto_fill_market and order.order_type == "market":
                self.fill(order.client_order_id, order.qty, self.assets[order.symbol].price)
            delay = self._submission_delays.pop(0) if self._submission_delays else 0.0
            return 200, order.to_json(), {}, delay

    def _accept(self, body: dict[str, Any]) -> FakeOrder:
        client_order_id = str(body.get("client_order_id") or uuid.uuid4())
        if len(client_order_id) > MAX_CLIENT_ORDER_ID_LENGTH:
            raise FakeAlpacaError(
                422, 40010001, "client_order_id must be no more than 48 characters"
            )
        if client_order_id in self._by_client_id:
            raise FakeAlpacaError(422, 40010001, DUPLICATE_CLIENT_ORDER_ID)
        symbol = str(body.get("symbol") or "")
        asset = self.assets.get(symbol)
        if asset is None:
            raise FakeAlpacaError(422, 40010001, f'asset "{symbol}" not found')
        if not asset.tradable:
            raise FakeAlpacaError(422, 40010001, f"asset {symbol} is not tradable")
        side = body.get("side")
        if side not in {"buy", "sell"}:
            raise FakeAlpacaError(422, 40010001, "side must be buy or sell")
        order_type = body.get("type")
        if order_type not in {"market", "limit"}:
            raise FakeAlpacaError(422, 40010001, "the fake supports market and limit orders")
        time_in_force = body.get("time_in_force")
        if time_in_force not in {"day", "gtc", "opg", "cls", "ioc", "fok"}:
            raise FakeAlpacaError(422, 40010001, "invalid time_in_force")
        if body.get("notional") is not None:
            raise FakeAlpacaError(422, 40010001, "the fake supports qty orders only")
        qty = self._quantity(body.get("qty"))
        fractional = qty != qty.to_integral_value()
        if fractional and not asset.fractionable:
            raise FakeAlpacaError(422, 40010001, f'asset "{symbol}" is not fractionable')
        if fractional and time_in_force != "day":
            raise FakeAlpacaError(422, 40010001, "fractional orders must be day orders")
        limit_price = self._limit_price(order_type, body.get("limit_price"))
        self._check_wash_trade(symbol, side, order_type, limit_price)
        if side == "buy":
            cost = qty * (limit_price if limit_price is not None else asset.price)
            buying_power = self._buying_power()
            if cost > buying_power:
                raise FakeAlpacaError(
                    403,
                    40310000,
                    INSUFFICIENT_BUYING_POWER,
                    buying_power=_text(buying_power),
                    cost_basis=_text(cost),
                )
        else:
            held = self.positions.get(symbol, _Position()).qty
            held_for_orders = self._held_for_orders(symbol)
            available = held - held_for_orders
            if qty > available:
                raise FakeAlpacaError(
                    403,
                    40310000,
                    f"insufficient qty available for order (requested: {_text(qty)}, "
                    f"available: {_text(available)})",
                    symbol=symbol,
                    available=_text(available),
                    existing_qty=_text(held),
                    held_for_orders=_text(held_for_orders),
                )
        now = self.now()
        self._sequence += 1
        order = FakeOrder(
            id=str(uuid.uuid4()),
            client_order_id=client_order_id,
            symbol=symbol,
            asset_id=asset.id,
            side=side,
            order_type=order_type,
            time_in_force=time_in_force,
            qty=qty,
            limit_price=limit_price,
            created_at=now,
            updated_at=now,
            sequence=self._sequence,
        )
        self.orders[order.id] = order
        self._by_client_id[client_order_id] = order.id
        self._emit("new", order, now)
        return order

    @staticmethod
    def _quantity(raw: Any) -> Decimal:
        if raw is None or isinstance(raw, bool):
            raise FakeAlpacaError(422, 40010001, "qty is required")
        try:
            qty = Decimal(str(raw))
        except InvalidOperation:
            raise FakeAlpacaError(422, 40010001, f"invalid qty {raw!r}") from None
        if not qty.is_finite() or qty <= 0:
            raise FakeAlpacaError(422, 40010001, "qty must be > 0")
        exponent = qty.normalize().as_tuple().exponent
        if isinstance(exponent, int) and exponent < -_QUANTITY_PLACES:
            raise FakeAlpacaError(422, 40010001, "qty must have at most 9 decimal places")
        return qty

    @staticmethod
    def _limit_price(order_type: str, raw: Any) -> Decimal | None:
        if order_type == "market":
            if raw is not None:
                raise FakeAlpacaError(422, 40010001, "limit_price is not allowed for market orders")
            return None
        if raw is None:
            raise FakeAlpacaError(422, 40010001, "limit_price is required for limit orders")
        try:
            limit = Decimal(str(raw))
        except InvalidOperation:
            raise FakeAlpacaError(422, 40010001, f"invalid limit_price {raw!r}") from None
        if not limit.is_finite() or limit <= 0:
            raise FakeAlpacaError(422, 40010001, "limit_price must be > 0")
        places = 2 if limit >= 1 else 4
        if limit != limit.quantize(Decimal(1).scaleb(-places)):
            raise FakeAlpacaError(
                422,
                42210000,
                f"invalid limit_price {raw}. sub-penny increment does not fulfill minimum "
                "pricing criteria",
            )
        return limit

    def _check_wash_trade(
        self, symbol: str, side: str, order_type: str, limit_price: Decimal | None
    ) -> None:
        """403 when an open opposite-side order of the symbol could trade against this one."""
        for other in self.orders.values():
            if not other.is_open or other.symbol != symbol or other.side == side:
                continue
            if order_type == "market" or other.order_type == "market":
                crosses = True
                reason = f"opposite side {other.order_type} order exists"
            else:
                assert limit_price is not None and other.limit_price is not None
                buy, sell = (
                    (limit_price, other.limit_price)
                    if side == "buy"
                    else (
                        other.limit_price,
                        limit_price,
                    )
                )
                crosses = buy >= sell
                reason = "opposite side limit order exists"
            if crosses:
                raise FakeAlpacaError(403, 40310000, WASH_TRADE, reject_reason=reason)

    def _buying_power(self) -> Decimal:
        reserved = sum(
            (
                order.remaining * (order.limit_price or self.assets[order.symbol].price)
                for order in self.orders.values()
                if order.is_open and order.side == "buy"
            ),
            Decimal(0),
        )
        return max(self.cash - reserved, Decimal(0))

    def _held_for_orders(self, symbol: str) -> Decimal:
        return sum(
            (
                order.remaining
                for order in self.orders.values()
                if order.is_open and order.side == "sell" and order.symbol == symbol
            ),
            Decimal(0),
        )

    def _list_orders(self, query: dict[str, list[str]]) -> list[dict[str, Any]]:
        def one(name: str) -> str | None:
            values = query.get(name)
            return values[0] if values else None

        status = one("status") or "open"
        if status not in {"open", "closed", "all"}:
            raise FakeAlpacaError(422, 40010001, "status must be open, closed or all")
        limit_text = one("limit") or "50"
        try:
            limit = int(limit_text)
        except ValueError:
            raise FakeAlpacaError(422, 40010001, "limit must be an integer") from None
        if not 1 <= limit <= MAX_ORDERS_PAGE:
            raise FakeAlpacaError(422, 40010001, f"limit must be between 1 and {MAX_ORDERS_PAGE}")
        direction = one("direction") or "desc"
        if direction not in {"asc", "desc"}:
            raise FakeAlpacaError(422, 40010001, "direction must be asc or desc")
        after = _parse_time(one("after"), "after")
        until = _parse_time(one("until"), "until")
        symbols = set((one("symbols") or "").split(",")) - {""}
        side = one("side")
        with self._lock:
            chosen = [
                order
                for order in self.orders.values()
                if (status == "all" or (status == "open") == order.is_open)
                and (after is None or order.created_at > after)
                and (until is None or order.created_at < until)
                and (not symbols or order.symbol in symbols)
                and (side is None or order.side == side)
            ]
            chosen.sort(key=lambda o: (o.created_at, o.sequence), reverse=direction == "desc")
            return [order.to_json() for order in chosen[:limit]]

    def _cancel(self, order: FakeOrder) -> None:
        if not order.is_open:
            raise FakeAlpacaError(422, 42210000, f'order is already in "{order.status}" state')
        now = self.now()
        order.status = "canceled"
        order.canceled_at = order.updated_at = now
        self._emit("canceled", order, now)

    def _cancel_all(self) -> list[dict[str, Any]]:
        with self._lock:
            answers = []
            for order in self.orders.values():
                if order.is_open:
                    self._cancel(order)
                    answers.append({"id": order.id, "status": 200, "body": order.to_json()})
            return answers

    def _account_json(self) -> dict[str, Any]:
        with self._lock:
            long_value = sum(
                (p.qty * self.assets[s].price for s, p in self.positions.items()), Decimal(0)
            )
            equity = self.cash + long_value
            buying_power = self._buying_power()
            return {
                "id": self.account_id,
                "admin_configurations": {},
                "user_configurations": None,
                "account_number": self.account_number,
                "status": "ACTIVE",
                "crypto_status": "ACTIVE",
                "options_approved_level": 0,
                "options_trading_level": 0,
                "currency": "USD",
                "buying_power": _text(buying_power),
                "regt_buying_power": _text(buying_power),
                "daytrading_buying_power": "0",
                "effective_buying_power": _text(buying_power),
                "non_marginable_buying_power": _text(buying_power),
                "options_buying_power": _text(buying_power),
                "bod_dtbp": "0",
                "cash": _text(self.cash),
                "accrued_fees": "0",
                "portfolio_value": _text(equity),
                "pattern_day_trader": False,
                "trading_blocked": False,
                "transfers_blocked": False,
                "account_blocked": False,
                "created_at": "2024-01-02T14:30:00.000000000Z",
                "trade_suspended_by_user": False,
                "multiplier": "1",
                "shorting_enabled": False,
                "equity": _text(equity),
                "last_equity": _text(self.opening_cash),
                "long_market_value": _text(long_value),
                "short_market_value": "0",
                "position_market_value": _text(long_value),
                "initial_margin": "0",
                "maintenance_margin": "0",
                "last_maintenance_margin": "0",
                "sma": "0",
                "daytrade_count": 0,
                "balance_asof": "2024-01-02",
                "crypto_tier": 1,
                "intraday_adjustments": "0",
                "pending_reg_taf_fees": "0",
            }

    def _position_json(self, symbol: str) -> dict[str, Any]:
        position = self.positions[symbol]
        asset = self.assets[symbol]
        market_value = position.qty * asset.price
        unrealized = market_value - position.cost_basis
        plpc = unrealized / position.cost_basis if position.cost_basis else Decimal(0)
        return {
            "asset_id": asset.id,
            "symbol": symbol,
            "exchange": asset.exchange,
            "asset_class": "us_equity",
            "asset_marginable": True,
            "qty": _text(position.qty),
            "qty_available": _text(position.qty - self._held_for_orders(symbol)),
            "avg_entry_price": _text(
                (position.cost_basis / position.qty).quantize(_AVERAGE_PRICE_QUANT)
            ),
            "side": "long" if position.qty > 0 else "short",
            "market_value": _text(market_value),
            "cost_basis": _text(position.cost_basis),
            "unrealized_pl": _text(unrealized),
            "unrealized_plpc": _text(plpc.quantize(Decimal("1e-10"))),
            "unrealized_intraday_pl": _text(unrealized),
            "unrealized_intraday_plpc": _text(plpc.quantize(Decimal("1e-10"))),
            "current_price": _text(asset.price),
            "lastday_price": _text(asset.price),
            "change_today": "0",
        }

    def _emit(
        self, event: str, order: FakeOrder, moment: datetime, **fields: str
    ) -> dict[str, Any]:
        message = {
            "stream": "trade_updates",
            "data": {
                "event": event,
                **fields,
                "order": order.to_json(),
                "timestamp": _rfc3339(moment),
            },
        }
        self.trade_updates.append(message)
        if self._stream is not None:
            self._stream.publish(message)
        return message


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    server_version = "FakeAlpaca/1.0"

    def do_GET(self) -> None:
        self._answer("GET")

    def do_POST(self) -> None:
        self._answer("POST")

    def do_DELETE(self) -> None:
        self._answer("DELETE")

    def do_PATCH(self) -> None:
        self._answer("PATCH")

    def _answer(self, method: str) -> None:
        fake: FakeAlpaca = self.server.fake  # type: ignore[attr-defined]
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        status, payload, extra, delay = fake.handle(
            method,
            unquote(url.path),
            parse_qs(url.query),
            {name.lower(): value for name, value in self.headers.items()},
            body,
        )
        if delay:
            fake._wake.wait(delay)
        data = b"" if payload is None else json.dumps(payload).encode()
        with contextlib.suppress(OSError):
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            if data:
                self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        return


class _TradeUpdatesServer:
    """Alpaca's ``trade_updates`` websocket protocol on 127.0.0.1, on its own event loop."""

    def __init__(self, api_key: str, secret_key: str) -> None:
        self._api_key = api_key
        self._secret_key = secret_key
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: Any = None
        self._listeners: set[Any] = set()
        self.listening = threading.Event()
        self.port = 0

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/stream"

    def start(self) -> None:
        ready = threading.Event()

        def run() -> None:
            from websockets.asyncio.server import serve

            loop = asyncio.new_event_loop()
            self._loop = loop

            async def main() -> None:
                self._server = await serve(self._session, "127.0.0.1", 0)
                self.port = self._server.sockets[0].getsockname()[1]
                ready.set()
                await self._server.wait_closed()

            try:
                loop.run_until_complete(main())
            finally:
                loop.close()

        self._thread = threading.Thread(target=run, name="fake-alpaca-stream", daemon=True)
        self._thread.start()
        if not ready.wait(5):
            raise RuntimeError("the fake trade_updates stream did not start")

    def stop(self) -> None:
        loop, server = self._loop, self._server
        if loop is not None and server is not None and loop.is_running():
            loop.call_soon_threadsafe(server.close)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def publish(self, message: Mapping[str, Any]) -> None:
        loop = self._loop
        if loop is None or not loop.is_running():
            return
        data = json.dumps(message).encode()
        asyncio.run_coroutine_threadsafe(self._broadcast(data), loop)

    async def _broadcast(self, data: bytes) -> None:
        for connection in list(self._listeners):
            with contextlib.suppress(Exception):
                await connection.send(data)  # binary frames, as Alpaca's paper stream sends

    async def _session(self, connection: Any) -> None:
        try:
            hello = json.loads(await connection.recv())
            credentials = hello.get("data") or {}
            authorized = (
                hello.get("action") in {"authenticate", "auth"}
                and credentials.get("key_id", hello.get("key")) == self._api_key
                and credentials.get("secret_key", hello.get("secret")) == self._secret_key
            )
            status = "authorized" if authorized else "unauthorized"
            reply = {
                "stream": "authorization",
                "data": {"status": status, "action": "authenticate"},
            }
            await connection.send(json.dumps(reply).encode())
            if not authorized:
                await connection.close()
                return
            async for raw in connection:
                request = json.loads(raw)
                if request.get("action") != "listen":
                    continue
                streams = [
                    s for s in request.get("data", {}).get("streams", []) if s == "trade_updates"
                ]
                await connection.send(
                    json.dumps({"stream": "listening", "data": {"streams": streams}}).encode()
                )
                if streams:
                    self._listeners.add(connection)
                    self.listening.set()
                else:
                    self._listeners.discard(connection)
        except Exception:  # noqa: S110 - a client that goes away ends its session
            pass
        finally:
            self._listeners.discard(connection)
            if not self._listeners:
                self.listening.clear()


@contextlib.contextmanager
def running_fake_alpaca(**options: Any) -> Iterator[FakeAlpaca]:
    """A started :class:`FakeAlpaca`, closed on exit."""
    fake = FakeAlpaca(**options).start()
    try:
        yield fake
    finally:
        fake.close()
