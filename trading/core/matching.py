"""The simulated exchange: a synthetic order book per asset and a deterministic matching engine.

The broker adapter for the embedded mode wraps :class:`SimulatedExchange`; nothing here reads a
clock, every time is passed in, and every random choice comes from one RNG seeded by
``ExchangeConfig.seed``, so the same seed and the same calls give the same orders and fills.

**The book.** Each asset's book is rebuilt around its reference price (the demo market's last
price) with ``levels`` price levels per side, each holding ``L = level_depth_fraction x ADV``
shares (whole shares for assets that are not fractionable). Slippage comes from the book's shape,
not from an adjustment of the fill price: the ask of level k (k = 1..N) is::

    ref x (1 + h + Y x sigma_daily x sqrt(L / ADV) x (k^1.5 - (k-1)^1.5))

with ``h`` half the spread (``spread_bps / 2 / 1e4``) and ``Y`` the impact coefficient; bids
mirror it below the reference. Walking k full levels therefore costs on average exactly
``ref x (1 + h + Y x sigma_daily x sqrt(kL / ADV))`` per share: half the spread plus the
square-root-law impact of :func:`trading.core.costs.market_impact_per_share`. Asks are rounded up
and bids down to ``tick_size``, which moves each level by less than a tick. Liquidity taken by
fills is gone until the next :meth:`SimulatedExchange.advance` with a price for the asset rebuilds
the book; the platform's own orders never trade with each other.

**Orders.** Market and limit, buy and sell, day only. :meth:`SimulatedExchange.submit`:

1. returns the existing order when the client order id is known (same parameters) and raises
   :class:`~portfolios.core.errors.Conflict` when the parameters differ, so the exchange never
   holds an order twice;
2. rejects (status ``REJECTED`` with a reason) a quantity that is not positive, has more than 9
   places or is fractional for a whole-share asset, an unknown symbol, a limit order without a
   positive limit price or a market order with one, a limit price more than
   ``limit_collar_pct`` percent from the reference price, and, with probability
   ``reject_probability``, any other order (fault drills);
3. acknowledges the order after ``ack_latency`` (``NEW`` -> ``ACCEPTED``) and matches it
   ``fill_latency`` after the acknowledgement, against the book as it is then.

A market order walks the book level by level; what the book cannot fill is canceled (status
``CANCELED``, with the filled part kept). A limit order fills the levels at or better than its
limit; the rest rests and fills when a later ``advance`` moves the book through it (at that
``advance``'s time). Fees follow ``ExchangeConfig.fees`` per order: each fill is charged the
increase of the order's cumulative commission, so the first fill carries the minimum.
Execution ids and exchange order ids come from counters.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, Decimal
from enum import StrEnum

from portfolios.core.errors import Conflict, InvalidInput, NotFound
from portfolios.core.money import PRICE_QUANT, QUANTITY_QUANT, ZERO, Number, to_decimal
from portfolios.core.money import price as round_price
from trading.core.costs import FeeSchedule
from trading.core.orders import (
    MAX_CLIENT_ORDER_ID_LENGTH,
    Fill,
    OrderIntent,
    OrderSide,
    OrderType,
    TimeInForce,
    is_lot_multiple,
    require_aware,
    round_quantity_down,
)

_BPS = Decimal(10_000)
_HUNDRED = Decimal(100)
_MAX_QUANTITY = Decimal(10) ** 15


class ExchangeOrderStatus(StrEnum):
    NEW = "new"
    ACCEPTED = "accepted"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELED = "canceled"
    REJECTED = "rejected"
    EXPIRED = "expired"


OPEN_STATUSES = frozenset(
    {ExchangeOrderStatus.NEW, ExchangeOrderStatus.ACCEPTED, ExchangeOrderStatus.PARTIALLY_FILLED}
)


@dataclass(frozen=True)
class ListedAsset:
    """An asset the exchange trades, with what its book is built from.

    Attributes
    ----------
    symbol
        Ticker.
    reference_price
        Initial reference price (the market's last price), strictly positive.
    average_daily_volume
        Shares per day, strictly positive; sets the depth per level.
    daily_volatility
        Daily return volatility as a fraction; shapes the levels (square-root impact).
    spread_bps
        Quoted spread between the best bid and ask around the reference, basis points.
    fractionable
        Whether fractional quantities are accepted.
    """

    symbol: str
    reference_price: Decimal
    average_daily_volume: Decimal
    daily_volatility: float
    spread_bps: Decimal = Decimal(5)
    fractionable: bool = True

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        if not self.symbol:
            raise InvalidInput("symbol must not be empty", field="symbol")
        for name in ("reference_price", "average_daily_volume"):
            value = to_decimal(getattr(self, name), name=name)
            if value <= 0:
                raise InvalidInput(f"{name} of {self.symbol} must be positive", field=name)
            set_(self, name, value)
        spread = to_decimal(self.spread_bps, name="spread_bps")
        if spread < 0:
            raise InvalidInput(
                f"spread_bps of {self.symbol} must not be negative", field="spread_bps"
            )
        set_(self, "spread_bps", spread)
        if not math.isfinite(self.daily_volatility) or self.daily_volatility < 0:
            raise InvalidInput(
                f"daily_volatility of {self.symbol} must be finite and non-negative",
                field="daily_volatility",
            )


@dataclass(frozen=True)
class ExchangeConfig:
    """How the simulated exchange behaves.

    Attributes
    ----------
    levels
        Price levels per side.
    level_depth_fraction
        Shares per level as a fraction of the average daily volume.
    impact_coefficient
        Y of the square-root impact law that shapes the levels.
    tick_size
        Price increment; asks round up and bids down to it.
    ack_latency
        Delay from submission to acknowledgement.
    fill_latency
        Delay from acknowledgement to matching.
    fees
        Commission per order.
    limit_collar_pct
        Largest distance of a limit price from the reference, percent; farther is rejected.
    reject_probability
        Chance that a valid order is rejected anyway, for fault drills.
    seed
        Seeds the RNG behind ``reject_probability``.
    id_prefix
        Prefix of exchange order ids and execution ids.
    """

    levels: int = 10
    level_depth_fraction: float = 0.0005
    impact_coefficient: float = 1.0
    tick_size: Decimal = Decimal("0.01")
    ack_latency: timedelta = timedelta(0)
    fill_latency: timedelta = timedelta(0)
    fees: FeeSchedule = field(default_factory=FeeSchedule)
    limit_collar_pct: Decimal = Decimal(10)
    reject_probability: float = 0.0
    seed: int = 0
    id_prefix: str = "SIM"

    def __post_init__(self) -> None:
        if self.levels < 1:
            raise InvalidInput(f"levels must be at least 1, got {self.levels}", field="levels")
        if not 0 < self.level_depth_fraction <= 1:
            raise InvalidInput(
                f"level_depth_fraction must be in (0, 1], got {self.level_depth_fraction}",
                field="level_depth_fraction",
            )
        if not math.isfinite(self.impact_coefficient) or self.impact_coefficient < 0:
            raise InvalidInput(
                "impact_coefficient must be non-negative", field="impact_coefficient"
            )
        tick = to_decimal(self.tick_size, name="tick_size")
        if tick <= 0:
            raise InvalidInput(f"tick_size must be positive, got {tick}", field="tick_size")
        object.__setattr__(self, "tick_size", tick)
        if self.ack_latency < timedelta(0) or self.fill_latency < timedelta(0):
            raise InvalidInput("latencies must not be negative", field="ack_latency")
        collar = to_decimal(self.limit_collar_pct, name="limit_collar_pct")
        if collar <= 0:
            raise InvalidInput("limit_collar_pct must be positive", field="limit_collar_pct")
        object.__setattr__(self, "limit_collar_pct", collar)
        if not 0 <= self.reject_probability <= 1:
            raise InvalidInput(
                f"reject_probability must be in [0, 1], got {self.reject_probability}",
                field="reject_probability",
            )


@dataclass(frozen=True)
class BookLevel:
    price: Decimal
    quantity: Decimal


@dataclass(frozen=True)
class BookSnapshot:
    """One asset's book: bids best (highest) first, asks best (lowest) first."""

    symbol: str
    reference_price: Decimal
    bids: tuple[BookLevel, ...]
    asks: tuple[BookLevel, ...]

    @property
    def best_bid(self) -> Decimal | None:
        return next((lvl.price for lvl in self.bids if lvl.quantity > 0), None)

    @property
    def best_ask(self) -> Decimal | None:
        return next((lvl.price for lvl in self.asks if lvl.quantity > 0), None)


def _round_to_tick(value: Decimal, tick: Decimal, rounding: str) -> Decimal:
    return ((value / tick).to_integral_value(rounding=rounding) * tick).quantize(PRICE_QUANT)


class MatchingEngine:
    """One asset's synthetic book, and taking liquidity from it.

    Mutable: ``take`` consumes the levels it fills, ``rebuild`` restores them around a new
    reference price.
    """

    def __init__(self, asset: ListedAsset, config: ExchangeConfig) -> None:
        self.asset = asset
        self._config = config
        depth = round_quantity_down(
            asset.average_daily_volume * to_decimal(config.level_depth_fraction),
            fractionable=asset.fractionable,
        )
        step = QUANTITY_QUANT if asset.fractionable else Decimal(1)
        self.level_depth: Decimal = max(depth, step.quantize(QUANTITY_QUANT))
        self.reference_price: Decimal = asset.reference_price
        self._asks: list[list[Decimal]] = []
        self._bids: list[list[Decimal]] = []
        self.rebuild(asset.reference_price)

    def level_offsets(self) -> list[float]:
        """Fractional distance of each level from the reference, shape ``(levels,)``."""
        half_spread = float(self.asset.spread_bps) / 2 / 1e4
        scale = (
            self._config.impact_coefficient
            * self.asset.daily_volatility
            * math.sqrt(float(self.level_depth) / float(self.asset.average_daily_volume))
        )
        return [
            half_spread + scale * (k**1.5 - (k - 1) ** 1.5)
            for k in range(1, self._config.levels + 1)
        ]

    def rebuild(self, reference_price: Decimal) -> None:
        """Rebuild both sides around ``reference_price`` with full depth."""
        ref = to_decimal(reference_price, name="reference_price")
        if ref <= 0:
            raise InvalidInput(
                f"reference price of {self.asset.symbol} must be positive, got {ref}",
                field="reference_price",
            )
        self.reference_price = ref
        tick = self._config.tick_size
        self._asks = []
        self._bids = []
        for offset in self.level_offsets():
            move = to_decimal(offset, name="level offset")
            self._asks.append(
                [_round_to_tick(ref * (1 + move), tick, ROUND_CEILING), self.level_depth]
            )
            bid = _round_to_tick(ref * (1 - move), tick, ROUND_FLOOR)
            if bid > 0:
                self._bids.append([bid, self.level_depth])

    def snapshot(self) -> BookSnapshot:
        return BookSnapshot(
            symbol=self.asset.symbol,
            reference_price=self.reference_price,
            bids=tuple(BookLevel(p, q) for p, q in self._bids),
            asks=tuple(BookLevel(p, q) for p, q in self._asks),
        )

    def take(
        self, side: OrderSide, quantity: Decimal, limit_price: Decimal | None = None
    ) -> list[tuple[Decimal, Decimal]]:
        """Fill up to ``quantity`` level by level, at or better than ``limit_price`` if given.

        Returns
        -------
        list of (price, quantity)
            One entry per level touched, best first; the levels lose what was filled.
        """
        levels = self._asks if side is OrderSide.BUY else self._bids
        remaining = quantity
        executions: list[tuple[Decimal, Decimal]] = []
        for level in levels:
            if remaining <= 0:
                break
            px, available = level
            if available <= 0:
                continue
            if limit_price is not None and (
                (side is OrderSide.BUY and px > limit_price)
                or (side is OrderSide.SELL and px < limit_price)
            ):
                break
            filled = min(remaining, available)
            level[1] = available - filled
            remaining -= filled
            executions.append((px, filled))
        return executions


@dataclass(frozen=True)
class ExchangeOrder:
    """An order as the exchange holds it, at one moment.

    Attributes
    ----------
    client_order_id
        The submitter's idempotency key.
    exchange_order_id
        The exchange's id, from a counter.
    status
        Lifecycle state.
    reason
        Why the order was rejected, canceled or expired; ``None`` otherwise.
    filled_quantity, average_fill_price, fees
        Totals of ``fills``.
    fills
        Every execution of the order, in time order.
    """

    client_order_id: str
    exchange_order_id: str
    symbol: str
    side: OrderSide
    order_type: OrderType
    time_in_force: TimeInForce
    quantity: Decimal
    limit_price: Decimal | None
    status: ExchangeOrderStatus
    reason: str | None
    submitted_at: datetime
    acknowledged_at: datetime | None
    updated_at: datetime
    filled_quantity: Decimal
    average_fill_price: Decimal | None
    fees: Decimal
    fills: tuple[Fill, ...]

    @property
    def remaining_quantity(self) -> Decimal:
        return self.quantity - self.filled_quantity

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


@dataclass
class _OrderState:
    sequence: int
    client_order_id: str
    exchange_order_id: str
    symbol: str
    side: OrderSide
    order_type: OrderType
    time_in_force: TimeInForce
    quantity: Decimal
    limit_price: Decimal | None
    submitted_at: datetime
    status: ExchangeOrderStatus
    updated_at: datetime
    reason: str | None = None
    acknowledged_at: datetime | None = None
    matched: bool = False
    fills: list[Fill] = field(default_factory=list)

    @property
    def filled_quantity(self) -> Decimal:
        return sum((f.quantity for f in self.fills), start=ZERO)

    @property
    def filled_notional(self) -> Decimal:
        return sum((f.notional for f in self.fills), start=ZERO)

    @property
    def fees(self) -> Decimal:
        return sum((f.fee for f in self.fills), start=ZERO)

    def request(self) -> tuple[object, ...]:
        return (
            self.symbol,
            self.side,
            self.order_type,
            self.time_in_force,
            self.quantity,
            self.limit_price,
        )

    def snapshot(self) -> ExchangeOrder:
        filled = self.filled_quantity
        return ExchangeOrder(
            client_order_id=self.client_order_id,
            exchange_order_id=self.exchange_order_id,
            symbol=self.symbol,
            side=self.side,
            order_type=self.order_type,
            time_in_force=self.time_in_force,
            quantity=self.quantity,
            limit_price=self.limit_price,
            status=self.status,
            reason=self.reason,
            submitted_at=self.submitted_at,
            acknowledged_at=self.acknowledged_at,
            updated_at=self.updated_at,
            filled_quantity=filled,
            average_fill_price=round_price(self.filled_notional / filled) if filled > 0 else None,
            fees=self.fees,
            fills=tuple(self.fills),
        )


_ACK = "ack"
_MATCH = "match"


class SimulatedExchange:
    """A deterministic exchange for the listed assets; see the module docstring for the rules.

    Parameters
    ----------
    assets
        The assets it trades (unique symbols).
    config
        Book shape, latencies, fees, collar, fault injection and seed.
    """

    def __init__(self, assets: Iterable[ListedAsset], *, config: ExchangeConfig | None = None):
        self.config = config or ExchangeConfig()
        self._engines: dict[str, MatchingEngine] = {}
        for asset in assets:
            if asset.symbol in self._engines:
                raise InvalidInput(f"{asset.symbol} is listed twice", field="assets")
            self._engines[asset.symbol] = MatchingEngine(asset, self.config)
        self._rng = random.Random(self.config.seed)
        self._orders: dict[str, _OrderState] = {}
        self._open: dict[str, _OrderState] = {}  # open orders, in submission order
        self._pending: list[tuple[datetime, int, str, str]] = []
        self._event_counter = 0
        self._order_counter = 0
        self._execution_counter = 0
        self._fill_log: list[Fill] = []
        self._clock: datetime | None = None

    # -- queries ----------------------------------------------------------------------------

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(sorted(self._engines))

    @property
    def clock(self) -> datetime | None:
        """The latest time the exchange has been told about."""
        return self._clock

    def book(self, symbol: str) -> BookSnapshot:
        return self._engine(symbol).snapshot()

    def reference_price(self, symbol: str) -> Decimal:
        return self._engine(symbol).reference_price

    def get_order(self, client_order_id: str) -> ExchangeOrder:
        try:
            return self._orders[client_order_id].snapshot()
        except KeyError:
            raise NotFound(f"no order with client_order_id {client_order_id!r}") from None

    def open_orders(self) -> tuple[ExchangeOrder, ...]:
        return tuple(s.snapshot() for s in self._open.values())

    def fills(self, since: int = 0) -> tuple[Fill, ...]:
        """Every fill in execution order, from position ``since`` (a cursor for pollers)."""
        return tuple(self._fill_log[since:])

    # -- commands ---------------------------------------------------------------------------

    def submit(
        self,
        *,
        client_order_id: str,
        symbol: str,
        side: OrderSide,
        quantity: Number,
        now: datetime,
        order_type: OrderType = OrderType.MARKET,
        limit_price: Number | None = None,
        time_in_force: TimeInForce = TimeInForce.DAY,
    ) -> ExchangeOrder:
        """Submit an order; idempotent on ``client_order_id``.

        Returns
        -------
        ExchangeOrder
            The order after anything already due at ``now`` (with zero latencies, its matching).
        """
        if not isinstance(client_order_id, str) or not client_order_id.strip():
            raise InvalidInput(
                "client_order_id must be a non-empty string", field="client_order_id"
            )
        try:
            side = OrderSide(side)
            order_type = OrderType(order_type)
            time_in_force = TimeInForce(time_in_force)
        except ValueError as exc:
            raise InvalidInput(f"unsupported order parameter: {exc}", field="order") from exc
        qty = to_decimal(quantity, name="quantity")
        limit = None if limit_price is None else to_decimal(limit_price, name="limit_price")
        self._advance_clock(now)

        request = (symbol, side, order_type, time_in_force, qty, limit)
        existing = self._orders.get(client_order_id)
        if existing is not None:
            if existing.request() != request:
                raise Conflict(
                    f"client_order_id {client_order_id} is already used by a different order "
                    f"({existing.side} {existing.quantity} {existing.symbol})",
                    field="client_order_id",
                )
            return existing.snapshot()

        self._order_counter += 1
        state = _OrderState(
            sequence=self._order_counter,
            client_order_id=client_order_id,
            exchange_order_id=f"{self.config.id_prefix}-{self._order_counter:08d}",
            symbol=symbol,
            side=side,
            order_type=order_type,
            time_in_force=time_in_force,
            quantity=qty,
            limit_price=limit,
            submitted_at=now,
            status=ExchangeOrderStatus.NEW,
            updated_at=now,
        )
        self._orders[client_order_id] = state
        reason = self._reject_reason(state)
        if (
            reason is None
            and self.config.reject_probability > 0
            and self._rng.random() < self.config.reject_probability
        ):
            reason = "rejected by the venue (simulated fault)"
        if reason is not None:
            state.status = ExchangeOrderStatus.REJECTED
            state.reason = reason
            return state.snapshot()
        self._open[client_order_id] = state
        ack_at = now + self.config.ack_latency
        self._schedule(ack_at, _ACK, client_order_id)
        self._schedule(ack_at + self.config.fill_latency, _MATCH, client_order_id)
        self._process_due(now)
        return state.snapshot()

    def submit_intent(self, order: OrderIntent, *, now: datetime) -> ExchangeOrder:
        """Submit an :class:`~trading.core.orders.OrderIntent`."""
        return self.submit(
            client_order_id=order.client_order_id,
            symbol=order.symbol,
            side=order.side,
            quantity=order.quantity,
            now=now,
            order_type=order.order_type,
            limit_price=order.limit_price,
            time_in_force=order.time_in_force,
        )

    def advance(
        self, now: datetime, reference_prices: Mapping[str, Number] | None = None
    ) -> tuple[Fill, ...]:
        """Move simulated time to ``now`` and, optionally, the market to new reference prices.

        Events due by ``now`` (acknowledgements, first matches) run first, against the books as
        they were; then each asset in ``reference_prices`` gets its book rebuilt around the new
        price, and its resting limit orders that the new book crosses fill at ``now``.

        Returns
        -------
        tuple of Fill
            The fills that happened during this call, in execution order.
        """
        prices: dict[str, Decimal] = {}
        for symbol, raw in sorted((reference_prices or {}).items()):
            self._engine(symbol)  # unknown symbols fail before anything changes
            prices[symbol] = to_decimal(raw, name=f"price of {symbol}")
            if prices[symbol] <= 0:
                raise InvalidInput(
                    f"price of {symbol} must be positive, got {prices[symbol]}", field=symbol
                )
        start = len(self._fill_log)
        self._advance_clock(now)
        for symbol, new_price in prices.items():
            self._engines[symbol].rebuild(new_price)
            for state in list(self._open.values()):
                if state.symbol == symbol and state.matched and state.order_type is OrderType.LIMIT:
                    self._match(state, now)
        return tuple(self._fill_log[start:])

    def cancel(self, client_order_id: str, *, now: datetime) -> ExchangeOrder:
        """Cancel an open order; canceling a canceled order returns it unchanged."""
        self._advance_clock(now)
        try:
            state = self._orders[client_order_id]
        except KeyError:
            raise NotFound(f"no order with client_order_id {client_order_id!r}") from None
        if state.status is ExchangeOrderStatus.CANCELED:
            return state.snapshot()
        if state.status not in OPEN_STATUSES:
            raise Conflict(
                f"order {client_order_id} is {state.status} and can no longer be canceled",
                field="client_order_id",
            )
        self._close(state, ExchangeOrderStatus.CANCELED, "canceled on request", now)
        return state.snapshot()

    def expire_day_orders(self, *, now: datetime) -> tuple[ExchangeOrder, ...]:
        """Expire every open day order (call at the session close); returns the expired orders."""
        self._advance_clock(now)
        expired = []
        for state in list(self._open.values()):
            if state.time_in_force is TimeInForce.DAY:
                self._close(state, ExchangeOrderStatus.EXPIRED, "day order expired", now)
                expired.append(state.snapshot())
        return tuple(expired)

    # -- internals --------------------------------------------------------------------------

    def _engine(self, symbol: str) -> MatchingEngine:
        try:
            return self._engines[symbol]
        except KeyError:
            raise NotFound(f"{symbol!r} is not listed on the simulated exchange") from None

    def _schedule(self, due: datetime, kind: str, client_order_id: str) -> None:
        self._event_counter += 1
        heapq.heappush(self._pending, (due, self._event_counter, kind, client_order_id))

    def _advance_clock(self, now: datetime) -> None:
        require_aware(now, name="now")
        if self._clock is not None and now < self._clock:
            raise InvalidInput(
                f"time went backwards: {now.isoformat()} is before {self._clock.isoformat()}",
                field="now",
            )
        self._clock = now
        self._process_due(now)

    def _process_due(self, now: datetime) -> None:
        while self._pending and self._pending[0][0] <= now:
            due, _, kind, client_order_id = heapq.heappop(self._pending)
            state = self._orders[client_order_id]
            if state.status not in OPEN_STATUSES:
                continue
            if kind == _ACK:
                state.status = ExchangeOrderStatus.ACCEPTED
                state.acknowledged_at = due
                state.updated_at = due
            else:
                state.matched = True
                self._match(state, due)

    def _reject_reason(self, state: _OrderState) -> str | None:
        engine = self._engines.get(state.symbol)
        qty = state.quantity
        if qty <= 0:
            return f"quantity must be positive, got {qty}"
        if qty >= _MAX_QUANTITY:
            return f"quantity {qty} is too large"
        if qty != qty.quantize(QUANTITY_QUANT, rounding=ROUND_DOWN):
            return f"quantity {qty} has more than 9 decimal places"
        if len(state.client_order_id) > MAX_CLIENT_ORDER_ID_LENGTH:
            return f"client_order_id is longer than {MAX_CLIENT_ORDER_ID_LENGTH} characters"
        if engine is None:
            return f"unknown symbol {state.symbol!r}"
        if not engine.asset.fractionable and not is_lot_multiple(qty, fractionable=False):
            return f"{state.symbol} is not fractionable; quantity {qty} is not whole"
        if state.order_type is OrderType.LIMIT:
            if state.limit_price is None or state.limit_price <= 0:
                return "a limit order needs a positive limit price"
            ref = engine.reference_price
            collar = self.config.limit_collar_pct
            if abs(state.limit_price - ref) * _HUNDRED > collar * ref:
                distance = (abs(state.limit_price - ref) / ref * _HUNDRED).quantize(Decimal("0.01"))
                return (
                    f"limit price {state.limit_price} is {distance}% from the reference price "
                    f"{ref}, outside the ±{collar}% collar"
                )
        elif state.limit_price is not None:
            return "a market order must not have a limit price"
        return None

    def _match(self, state: _OrderState, at: datetime) -> None:
        remaining = state.quantity - state.filled_quantity
        limit = state.limit_price if state.order_type is OrderType.LIMIT else None
        for px, qty in self._engines[state.symbol].take(state.side, remaining, limit):
            self._record_fill(state, px, qty, at)
        remaining = state.quantity - state.filled_quantity
        state.updated_at = at
        if remaining <= 0:
            state.status = ExchangeOrderStatus.FILLED
            self._open.pop(state.client_order_id, None)
        elif state.order_type is OrderType.MARKET:
            self._close(
                state,
                ExchangeOrderStatus.CANCELED,
                f"insufficient liquidity: filled {state.filled_quantity} of {state.quantity}; "
                "the remainder was canceled",
                at,
            )
        elif state.fills:
            state.status = ExchangeOrderStatus.PARTIALLY_FILLED
        else:
            state.status = ExchangeOrderStatus.ACCEPTED
            if state.acknowledged_at is None:
                state.acknowledged_at = at

    def _record_fill(self, state: _OrderState, px: Decimal, qty: Decimal, at: datetime) -> None:
        fees = self.config.fees
        charged = state.fees
        due = fees.fee(state.filled_quantity + qty, state.filled_notional + qty * px)
        self._execution_counter += 1
        fill = Fill(
            execution_id=f"{self.config.id_prefix}-X{self._execution_counter:09d}",
            client_order_id=state.client_order_id,
            symbol=state.symbol,
            side=state.side,
            quantity=qty,
            price=px,
            fee=due - charged,
            executed_at=at,
        )
        state.fills.append(fill)
        self._fill_log.append(fill)

    def _close(
        self, state: _OrderState, status: ExchangeOrderStatus, reason: str, at: datetime
    ) -> None:
        state.status = status
        state.reason = reason
        state.updated_at = at
        self._open.pop(state.client_order_id, None)
