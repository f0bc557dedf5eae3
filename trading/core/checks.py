"""Pre-trade risk checks: every order passes them, at the limits in force, before a broker sees it.

Each check looks at one order against the account, the firm's :class:`RiskLimits` and the market,
and gives one of three outcomes:

- ``PASS``: nothing to do.
- ``SOFT_FAIL``: the order can be fixed; the result carries the adjusted order (a smaller quantity,
  or a later ``not_before``) and the checks run again on it.
- ``HARD_FAIL``: the order is dropped and the proposal flagged.

The checks, in the order they run:

==================== ===================================================================
restricted_list      symbol on the firm's restricted list: hard fail, either side.
esg_exclusion        symbol excluded on ESG grounds: hard fail for buys; sells (which reduce
                     the exposure) pass.
price_collar         every order needs a last price. A limit price more than
                     ``price_collar_pct`` percent from the last price: hard fail. A market
                     order is estimated at the last price.
daily_loss_limit     today's realised + unrealised P&L below ``-daily_loss_limit``: hard fail
                     for buys (they add risk); sells pass.
market_hours         ``now`` (or the order's ``not_before``) outside the session, compared in
                     America/New_York: pass when ``allow_outside_hours``; otherwise hard fail
                     for a market order when ``reject_market_orders_outside_hours``; otherwise
                     soft fail that defers the order to the next open (``not_before``), or hard
                     fail when no next open is known.
lot_size             fractional quantity of an asset that trades in whole shares: soft fail,
                     rounded down.
position_available   a sell larger than the position (no short sales): soft fail, resized to
                     the position; nothing held: hard fail.
max_order_notional   quantity x estimated price above ``max_order_notional``: soft fail, resized.
max_adv_fraction     quantity above ``max_adv_fraction`` of the average daily volume: soft fail,
                     resized; no volume known while the limit is set: hard fail.
max_position_weight  a buy that takes the position above ``max_position_weight`` of the
                     account's total value: soft fail, resized; already at the limit: hard fail.
cash_available       a buy costing more than the cash (no margin): soft fail, resized.
==================== ===================================================================

The estimated price of an order is its limit price for a limit order and the last price for a
market order; the position weight values holdings at the last price. Resizing always rounds the
quantity down, to 9 places or to whole shares for assets in ``MarketContext.non_fractionable``; a
resize that reaches zero is a hard fail. The first hard fail ends the checks of an order (its
results list the checks that ran, the failing one last). Within one round each check sees the order
as adjusted by the checks before it; a round with a soft fail is followed by another round over all
the checks on the adjusted order, at most ``max_rounds`` rounds. Resizes only ever shrink the
order, so the second round normally passes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType

from portfolios.core.errors import InvalidInput
from portfolios.core.money import ZERO, Number, cash, to_decimal
from trading.core.orders import (
    OrderIntent,
    OrderType,
    is_lot_multiple,
    largest_quantity_within,
    require_aware,
    round_quantity_down,
)
from trading.core.sessions import NEW_YORK, TradingSession

MAX_ROUNDS = 4
"""Default bound on check rounds for one order."""

_HUNDRED = Decimal(100)


class CheckOutcome(StrEnum):
    PASS = "pass"  # noqa: S105 - an outcome, not a password
    SOFT_FAIL = "soft_fail"
    HARD_FAIL = "hard_fail"


class CheckName(StrEnum):
    RESTRICTED_LIST = "restricted_list"
    ESG_EXCLUSION = "esg_exclusion"
    PRICE_COLLAR = "price_collar"
    DAILY_LOSS_LIMIT = "daily_loss_limit"
    MARKET_HOURS = "market_hours"
    LOT_SIZE = "lot_size"
    POSITION_AVAILABLE = "position_available"
    MAX_ORDER_NOTIONAL = "max_order_notional"
    MAX_ADV_FRACTION = "max_adv_fraction"
    MAX_POSITION_WEIGHT = "max_position_weight"
    CASH_AVAILABLE = "cash_available"
    ROUNDS = "rounds"
    """Not a check: recorded when the checks did not settle within ``max_rounds``."""


def _optional_decimal(
    value: Number | None, *, name: str, minimum: Decimal, inclusive: bool
) -> Decimal | None:
    if value is None:
        return None
    result = to_decimal(value, name=name)
    if result < minimum or (not inclusive and result == minimum):
        relation = "at least" if inclusive else "more than"
        raise InvalidInput(f"{name} must be {relation} {minimum}, got {result}", field=name)
    return result


def _symbols(values: Iterable[str], *, name: str) -> frozenset[str]:
    if isinstance(values, str):
        raise InvalidInput(f"{name} must be a collection of symbols, not a string", field=name)
    return frozenset(str(v).strip().upper() for v in values if str(v).strip())


@dataclass(frozen=True)
class RiskLimits:
    """The firm's pre-trade limits for an account (tuned by staff in the admin site).

    Attributes
    ----------
    max_position_weight
        Largest weight of one position in the account's total value after a buy, in (0, 1].
    max_order_notional
        Largest order value (quantity x estimated price), cash.
    max_adv_fraction
        Largest order quantity as a fraction of the asset's average daily volume, > 0.
    restricted_symbols
        Symbols nobody may trade (compliance restricted list); compared case-insensitively.
    excluded_symbols
        Symbols excluded on ESG grounds: no buys; compared case-insensitively.
    price_collar_pct
        Largest distance of a limit price from the last price, in percent (5 means ±5%).
    daily_loss_limit
        Positive cash amount; buys are blocked once today's P&L is below its negative.
    allow_outside_hours
        When true, orders pass the market-hours check at any time (the broker queues them).
    reject_market_orders_outside_hours
        When true (and ``allow_outside_hours`` is false), a market order outside the session is a
        hard fail instead of being deferred to the next open.

    A limit left as ``None`` is not checked.
    """

    max_position_weight: Decimal | None = None
    max_order_notional: Decimal | None = None
    max_adv_fraction: Decimal | None = None
    restricted_symbols: frozenset[str] = frozenset()
    excluded_symbols: frozenset[str] = frozenset()
    price_collar_pct: Decimal | None = None
    daily_loss_limit: Decimal | None = None
    allow_outside_hours: bool = False
    reject_market_orders_outside_hours: bool = False

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        weight = _optional_decimal(
            self.max_position_weight, name="max_position_weight", minimum=ZERO, inclusive=False
        )
        if weight is not None and weight > 1:
            raise InvalidInput(
                f"max_position_weight must be at most 1, got {weight}", field="max_position_weight"
            )
        set_(self, "max_position_weight", weight)
        for name in ("max_order_notional", "max_adv_fraction", "price_collar_pct"):
            set_(
                self,
                name,
                _optional_decimal(getattr(self, name), name=name, minimum=ZERO, inclusive=False),
            )
        set_(
            self,
            "daily_loss_limit",
            _optional_decimal(
                self.daily_loss_limit, name="daily_loss_limit", minimum=ZERO, inclusive=True
            ),
        )
        set_(
            self,
            "restricted_symbols",
            _symbols(self.restricted_symbols, name="restricted_symbols"),
        )
        set_(self, "excluded_symbols", _symbols(self.excluded_symbols, name="excluded_symbols"))


def _frozen_mapping(
    values: Mapping[str, Number], *, name: str, allow_zero: bool
) -> Mapping[str, Decimal]:
    result: dict[str, Decimal] = {}
    for symbol, raw in values.items():
        value = to_decimal(raw, name=f"{name}[{symbol}]")
        if value < 0 or (value == 0 and not allow_zero):
            relation = "non-negative" if allow_zero else "positive"
            raise InvalidInput(
                f"{name} for {symbol} must be {relation}, got {value}", field=f"{name}.{symbol}"
            )
        result[symbol] = value
    return MappingProxyType(result)


@dataclass(frozen=True)
class AccountState:
    """What the checks need to know about an account, at the moment of checking.

    Attributes
    ----------
    account_key
        The account's identifier; every checked order must carry the same key.
    cash
        Settled cash available to trade (no margin).
    total_value
        Cash plus positions at ``prices``.
    positions
        Quantity held per symbol (non-negative: no short positions).
    prices
        Last price per symbol; the estimate for market orders and the valuation of positions.
    pnl_today
        Today's realised plus unrealised profit and loss, cash (negative is a loss).
    average_daily_volume
        Average daily volume per symbol, shares.
    """

    account_key: str
    cash: Decimal
    total_value: Decimal
    positions: Mapping[str, Decimal] = field(default_factory=dict)
    prices: Mapping[str, Decimal] = field(default_factory=dict)
    pnl_today: Decimal = ZERO
    average_daily_volume: Mapping[str, Decimal] = field(default_factory=dict)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        if not isinstance(self.account_key, str) or not self.account_key.strip():
            raise InvalidInput("account_key must be a non-empty string", field="account_key")
        set_(self, "cash", to_decimal(self.cash, name="cash"))
        set_(self, "total_value", to_decimal(self.total_value, name="total_value"))
        set_(self, "pnl_today", to_decimal(self.pnl_today, name="pnl_today"))
        set_(self, "positions", _frozen_mapping(self.positions, name="positions", allow_zero=True))
        set_(self, "prices", _frozen_mapping(self.prices, name="prices", allow_zero=False))
        set_(
            self,
            "average_daily_volume",
            _frozen_mapping(
                self.average_daily_volume, name="average_daily_volume", allow_zero=True
            ),
        )

    def position(self, symbol: str) -> Decimal:
        """Quantity held of ``symbol`` (zero when none)."""
        return self.positions.get(symbol, ZERO)


@dataclass(frozen=True)
class MarketContext:
    """The venue's calendar and asset facts that the checks need.

    Attributes
    ----------
    session
        Today's session (New York date), or ``None`` when the venue is closed all day.
    next_session
        The session after ``session`` (or the next one at all when today is a holiday); needed to
        defer an order placed after the close.
    non_fractionable
        Symbols that trade only in whole shares.
    """

    session: TradingSession | None
    next_session: TradingSession | None = None
    non_fractionable: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(self, "non_fractionable", frozenset(self.non_fractionable))
        if (
            self.session is not None
            and self.next_session is not None
            and self.next_session.opens_at <= self.session.closes_at
        ):
            raise InvalidInput(
                f"next_session ({self.next_session.day}) must start after session "
                f"({self.session.day}) closes",
                field="next_session",
            )

    def _sessions(self) -> tuple[TradingSession, ...]:
        return tuple(s for s in (self.session, self.next_session) if s is not None)

    def is_open(self, moment: datetime) -> bool:
        """Whether ``moment`` falls inside one of the known sessions."""
        return any(s.contains(moment) for s in self._sessions())

    def next_open_after(self, moment: datetime) -> datetime | None:
        """The first known open strictly after ``moment``, or ``None``."""
        opens = [s.opens_at for s in self._sessions() if s.opens_at > moment]
        return min(opens) if opens else None

    def is_fractionable(self, symbol: str) -> bool:
        return symbol not in self.non_fractionable


@dataclass(frozen=True)
class CheckResult:
    """What one check said about one version of an order.

    Attributes
    ----------
    check
        Which check.
    outcome
        Pass, soft fail or hard fail.
    message
        Names the limit and the observed value, e.g. "max_order_notional: order notional
        12,000.00 exceeds the limit 10,000.00; quantity reduced from 120 to 100".
    limit_value
        The limit in force, when it is a number.
    observed_value
        What the order or account showed, when it is a number.
    adjusted_order
        For a soft fail, the order as the check adjusted it.
    round
        The check round (1 for the order as submitted).
    """

    check: CheckName
    outcome: CheckOutcome
    message: str
    limit_value: Decimal | None = None
    observed_value: Decimal | None = None
    adjusted_order: OrderIntent | None = None
    round: int = 1

    def __post_init__(self) -> None:
        if (self.outcome is CheckOutcome.SOFT_FAIL) != (self.adjusted_order is not None):
            raise InvalidInput(
                "a soft fail carries an adjusted order and only a soft fail does",
                field="adjusted_order",
            )


@dataclass(frozen=True)
class PreTradeDecision:
    """The verdict on one order.

    Attributes
    ----------
    original
        The order as submitted to the checks.
    order
        The order to route (possibly resized or deferred), or ``None`` after a hard fail.
    outcome
        ``PASS`` when the original passed untouched, ``SOFT_FAIL`` when it was adjusted and then
        passed, ``HARD_FAIL`` when it was dropped.
    results
        Every check result of every round, in the order they ran.
    rounds
        How many rounds ran.
    """

    original: OrderIntent
    order: OrderIntent | None
    outcome: CheckOutcome
    results: tuple[CheckResult, ...]
    rounds: int

    @property
    def accepted(self) -> bool:
        return self.order is not None

    @property
    def failures(self) -> tuple[CheckResult, ...]:
        """The results that were not a pass."""
        return tuple(r for r in self.results if r.outcome is not CheckOutcome.PASS)


@dataclass(frozen=True)
class PreTradeBatch:
    """The verdicts on a batch of orders for one account, sells first.

    Attributes
    ----------
    decisions
        One decision per order, in the order the orders were checked (sells, then buys, each in
        their given order).
    account_after
        The account projected after every accepted order fills at its estimated price.
    """

    decisions: tuple[PreTradeDecision, ...]
    account_after: AccountState

    @property
    def accepted_orders(self) -> tuple[OrderIntent, ...]:
        return tuple(d.order for d in self.decisions if d.order is not None)

    def decision_for(self, client_order_id: str) -> PreTradeDecision:
        for decision in self.decisions:
            if decision.original.client_order_id == client_order_id:
                return decision
        raise InvalidInput(f"no order {client_order_id!r} in this batch", field="client_order_id")


@dataclass(frozen=True)
class _Context:
    account: AccountState
    limits: RiskLimits
    market: MarketContext
    now: datetime


def _money(value: Decimal) -> str:
    return f"{cash(value):,}"


def _plain(value: Decimal) -> str:
    """A quantity or price without trailing zeros: 100.000000000 -> 100, 1.250 -> 1.25."""
    text = format(value.normalize(), "f")
    return text


def _ny(moment: datetime) -> str:
    return moment.astimezone(NEW_YORK).strftime("%Y-%m-%d %H:%M %Z")


def _pass(
    name: CheckName,
    message: str,
    *,
    limit_value: Decimal | None = None,
    observed_value: Decimal | None = None,
) -> CheckResult:
    return CheckResult(
        name,
        CheckOutcome.PASS,
        f"{name}: {message}",
        limit_value=limit_value,
        observed_value=observed_value,
    )


def _hard(
    name: CheckName,
    message: str,
    *,
    limit_value: Decimal | None = None,
    observed_value: Decimal | None = None,
) -> CheckResult:
    return CheckResult(
        name,
        CheckOutcome.HARD_FAIL,
        f"{name}: {message}",
        limit_value=limit_value,
        observed_value=observed_value,
    )


def _resize(
    name: CheckName,
    order: OrderIntent,
    new_quantity: Decimal,
    reason: str,
    *,
    limit_value: Decimal | None,
    observed_value: Decimal | None,
) -> CheckResult:
    """Soft fail with the order resized, or hard fail when the resize reaches zero."""
    if new_quantity <= 0:
        return _hard(
            name,
            f"{reason}; resizing to fit leaves no quantity to trade",
            limit_value=limit_value,
            observed_value=observed_value,
        )
    return CheckResult(
        name,
        CheckOutcome.SOFT_FAIL,
        f"{name}: {reason}; quantity reduced from {_plain(order.quantity)} to "
        f"{_plain(new_quantity)}",
        limit_value=limit_value,
        observed_value=observed_value,
        adjusted_order=order.with_quantity(new_quantity),
    )


def _last_price(order: OrderIntent, ctx: _Context) -> Decimal:
    # price_collar runs before every check that prices the order, and a hard fail there (no last
    # price) ends the checks, so the price is always there when this is called.
    return ctx.account.prices[order.symbol]


def estimated_price(order: OrderIntent, *, last_price: Decimal) -> Decimal:
    """The price the checks assume: the limit price of a limit order, else the last price."""
    if order.order_type is OrderType.LIMIT and order.limit_price is not None:
        return order.limit_price
    return last_price


def _check_restricted(order: OrderIntent, ctx: _Context) -> CheckResult:
    name = CheckName.RESTRICTED_LIST
    if order.symbol.upper() in ctx.limits.restricted_symbols:
        return _hard(
            name,
            f"{order.symbol} is on restricted_symbols (the restricted list); no {order.side} "
            "orders are allowed",
        )
    return _pass(name, f"{order.symbol} is not on restricted_symbols")


def _check_esg(order: OrderIntent, ctx: _Context) -> CheckResult:
    name = CheckName.ESG_EXCLUSION
    if order.symbol.upper() not in ctx.limits.excluded_symbols:
        return _pass(name, f"{order.symbol} is not on excluded_symbols")
    if order.is_buy:
        return _hard(
            name,
            f"{order.symbol} is on excluded_symbols (ESG exclusion); buys are not allowed",
        )
    return _pass(
        name, f"{order.symbol} is on excluded_symbols (ESG exclusion); selling reduces exposure"
    )


def _check_price_collar(order: OrderIntent, ctx: _Context) -> CheckResult:
    name = CheckName.PRICE_COLLAR
    pct = ctx.limits.price_collar_pct
    last = ctx.account.prices.get(order.symbol)
    if last is None:
        return _hard(
            name,
            f"no last price for {order.symbol}; every order needs one to estimate its price",
            limit_value=pct,
        )
    if order.order_type is OrderType.MARKET or order.limit_price is None:
        return _pass(
            name,
            f"market order estimated at the last price {_plain(last)}",
            limit_value=pct,
            observed_value=last,
        )
    deviation = (abs(order.limit_price - last) / last * _HUNDRED).quantize(Decimal("0.01"))
    if pct is None:
        return _pass(
            name,
            f"limit price {_plain(order.limit_price)} is {deviation}% from the last price "
            f"{_plain(last)}; no price_collar_pct set",
            observed_value=deviation,
        )
    if abs(order.limit_price - last) * _HUNDRED > pct * last:
        return _hard(
            name,
            f"limit price {_plain(order.limit_price)} is {deviation}% from the last price "
            f"{_plain(last)}, outside the price_collar_pct of ±{_plain(pct)}%",
            limit_value=pct,
            observed_value=deviation,
        )
    return _pass(
        name,
        f"limit price {_plain(order.limit_price)} is {deviation}% from the last price "
        f"{_plain(last)}, within the price_collar_pct of ±{_plain(pct)}%",
        limit_value=pct,
        observed_value=deviation,
    )


def _check_daily_loss(order: OrderIntent, ctx: _Context) -> CheckResult:
    name = CheckName.DAILY_LOSS_LIMIT
    limit = ctx.limits.daily_loss_limit
    pnl = ctx.account.pnl_today
    if limit is None:
        return _pass(name, "no daily_loss_limit set", observed_value=pnl)
    values = {"limit_value": limit, "observed_value": pnl}
    if pnl < -limit:
        if order.is_buy:
            return _hard(
                name,
                f"today's P&L {_money(pnl)} is below the daily_loss_limit of -{_money(limit)}; "
                "buys that add risk are blocked",
                **values,
            )
        return _pass(
            name,
            f"today's P&L {_money(pnl)} is below the daily_loss_limit of -{_money(limit)}; "
            "sells that reduce risk are allowed",
            **values,
        )
    return _pass(
        name,
        f"today's P&L {_money(pnl)} is within the daily_loss_limit of -{_money(limit)}",
        **values,
    )


def _check_market_hours(order: OrderIntent, ctx: _Context) -> CheckResult:
    name = CheckName.MARKET_HOURS
    moment = ctx.now if order.not_before is None else max(ctx.now, order.not_before)
    if ctx.market.is_open(moment):
        return _pass(name, f"{_ny(moment)} is inside the session")
    if ctx.limits.allow_outside_hours:
        return _pass(name, f"{_ny(moment)} is outside the session; allowed by allow_outside_hours")
    if order.order_type is OrderType.MARKET and ctx.limits.reject_market_orders_outside_hours:
        return _hard(
            name,
            f"{_ny(moment)} is outside the session and reject_market_orders_outside_hours is set; "
            "market orders are not deferred",
        )
    next_open = ctx.market.next_open_after(moment)
    if next_open is None:
        return _hard(
            name,
            f"{_ny(moment)} is outside the session and no next session is known to defer to",
        )
    return CheckResult(
        name,
        CheckOutcome.SOFT_FAIL,
        f"{name}: {_ny(moment)} is outside the session (allow_outside_hours is off); deferred "
        f"to the next open at {_ny(next_open)}",
        adjusted_order=order.deferred_to(next_open),
    )


def _check_lot_size(order: OrderIntent, ctx: _Context) -> CheckResult:
    name = CheckName.LOT_SIZE
    fractionable = ctx.market.is_fractionable(order.symbol)
    if is_lot_multiple(order.quantity, fractionable=fractionable):
        unit = "fractional shares" if fractionable else "whole shares"
        return _pass(
            name,
            f"quantity {_plain(order.quantity)} fits {order.symbol}'s lot ({unit})",
            observed_value=order.quantity,
        )
    return _resize(
        name,
        order,
        round_quantity_down(order.quantity, fractionable=False),
        f"{order.symbol} trades in whole shares only and quantity is {_plain(order.quantity)}",
        limit_value=None,
        observed_value=order.quantity,
    )


def _check_position_available(order: OrderIntent, ctx: _Context) -> CheckResult:
    name = CheckName.POSITION_AVAILABLE
    held = ctx.account.position(order.symbol)
    if order.is_buy:
        return _pass(name, "buys do not need a position")
    if order.quantity <= held:
        return _pass(
            name,
            f"sell of {_plain(order.quantity)} within the position of {_plain(held)}",
            limit_value=held,
            observed_value=order.quantity,
        )
    if held <= 0:
        return _hard(
            name,
            f"no position in {order.symbol} to sell (short sales are not allowed)",
            limit_value=held,
            observed_value=order.quantity,
        )
    return _resize(
        name,
        order,
        round_quantity_down(held, fractionable=ctx.market.is_fractionable(order.symbol)),
        f"sell of {_plain(order.quantity)} exceeds the position of {_plain(held)} (no short sales)",
        limit_value=held,
        observed_value=order.quantity,
    )


def _check_order_notional(order: OrderIntent, ctx: _Context) -> CheckResult:
    name = CheckName.MAX_ORDER_NOTIONAL
    limit = ctx.limits.max_order_notional
    px = estimated_price(order, last_price=_last_price(order, ctx))
    notional = order.quantity * px
    if limit is None:
        return _pass(
            name,
            f"order notional {_money(notional)}; no max_order_notional set",
            observed_value=cash(notional),
        )
    values = {"limit_value": limit, "observed_value": cash(notional)}
    if notional <= limit:
        return _pass(
            name,
            f"order notional {_money(notional)} within max_order_notional {_money(limit)}",
            **values,
        )
    fractionable = ctx.market.is_fractionable(order.symbol)
    return _resize(
        name,
        order,
        largest_quantity_within(limit, px, fractionable=fractionable),
        f"order notional {_money(notional)} exceeds max_order_notional {_money(limit)}",
        **values,
    )


def _check_adv_fraction(order: OrderIntent, ctx: _Context) -> CheckResult:
    name = CheckName.MAX_ADV_FRACTION
    limit = ctx.limits.max_adv_fraction
    if limit is None:
        return _pass(name, "no max_adv_fraction set")
    adv = ctx.account.average_daily_volume.get(order.symbol)
    if adv is None or adv <= 0:
        return _hard(
            name,
            f"no average daily volume for {order.symbol}; cannot apply max_adv_fraction "
            f"{_plain(limit)}",
            limit_value=limit,
        )
    fraction = (order.quantity / adv).quantize(Decimal("0.000001"))
    values = {"limit_value": limit, "observed_value": fraction}
    if order.quantity <= adv * limit:
        return _pass(
            name,
            f"quantity {_plain(order.quantity)} is {fraction} of the average daily volume "
            f"{_plain(adv)}, within max_adv_fraction {_plain(limit)}",
            **values,
        )
    fractionable = ctx.market.is_fractionable(order.symbol)
    return _resize(
        name,
        order,
        round_quantity_down(adv * limit, fractionable=fractionable),
        f"quantity {_plain(order.quantity)} is {fraction} of the average daily volume "
        f"{_plain(adv)}, above max_adv_fraction {_plain(limit)}",
        **values,
    )


def _check_position_weight(order: OrderIntent, ctx: _Context) -> CheckResult:
    name = CheckName.MAX_POSITION_WEIGHT
    limit = ctx.limits.max_position_weight
    if limit is None:
        return _pass(name, "no max_position_weight set")
    if not order.is_buy:
        return _pass(name, "sells reduce the position weight", limit_value=limit)
    total = ctx.account.total_value
    if total <= 0:
        return _hard(
            name,
            f"account total value is {_money(total)}; cannot apply max_position_weight "
            f"{_plain(limit)}",
            limit_value=limit,
        )
    last = _last_price(order, ctx)
    held_value = ctx.account.position(order.symbol) * last
    after = held_value + order.quantity * last
    weight = (after / total).quantize(Decimal("0.000001"))
    values = {"limit_value": limit, "observed_value": weight}
    if after <= limit * total:
        return _pass(
            name,
            f"position weight after the buy {weight} within max_position_weight {_plain(limit)}",
            **values,
        )
    reason = f"position weight after the buy {weight} exceeds max_position_weight {_plain(limit)}"
    room = limit * total - held_value
    if room <= 0:
        return _hard(
            name,
            f"{order.symbol} already weighs {(held_value / total).quantize(Decimal('0.000001'))}"
            f", at or above max_position_weight {_plain(limit)}; no room to buy",
            **values,
        )
    fractionable = ctx.market.is_fractionable(order.symbol)
    return _resize(
        name,
        order,
        largest_quantity_within(room, last, fractionable=fractionable),
        reason,
        **values,
    )


def _check_cash(order: OrderIntent, ctx: _Context) -> CheckResult:
    name = CheckName.CASH_AVAILABLE
    available = max(ctx.account.cash, ZERO)
    if not order.is_buy:
        return _pass(name, "sells free cash", limit_value=cash(available))
    px = estimated_price(order, last_price=_last_price(order, ctx))
    cost = order.quantity * px
    values = {"limit_value": cash(available), "observed_value": cash(cost)}
    if cost <= available:
        return _pass(
            name,
            f"estimated cost {_money(cost)} within the cash available {_money(available)}",
            **values,
        )
    fractionable = ctx.market.is_fractionable(order.symbol)
    return _resize(
        name,
        order,
        largest_quantity_within(available, px, fractionable=fractionable),
        f"estimated cost {_money(cost)} exceeds the cash available {_money(available)} (no margin)",
        **values,
    )


_Check = Callable[[OrderIntent, _Context], CheckResult]

CHECKS: tuple[tuple[CheckName, _Check], ...] = (
    (CheckName.RESTRICTED_LIST, _check_restricted),
    (CheckName.ESG_EXCLUSION, _check_esg),
    (CheckName.PRICE_COLLAR, _check_price_collar),
    (CheckName.DAILY_LOSS_LIMIT, _check_daily_loss),
    (CheckName.MARKET_HOURS, _check_market_hours),
    (CheckName.LOT_SIZE, _check_lot_size),
    (CheckName.POSITION_AVAILABLE, _check_position_available),
    (CheckName.MAX_ORDER_NOTIONAL, _check_order_notional),
    (CheckName.MAX_ADV_FRACTION, _check_adv_fraction),
    (CheckName.MAX_POSITION_WEIGHT, _check_position_weight),
    (CheckName.CASH_AVAILABLE, _check_cash),
)
"""Every check, in the order it runs."""


def run_pre_trade_checks(
    order: OrderIntent,
    *,
    account: AccountState,
    limits: RiskLimits,
    market: MarketContext,
    now: datetime,
    max_rounds: int = MAX_ROUNDS,
) -> PreTradeDecision:
    """Run every pre-trade check on one order, resizing on soft fails, for at most ``max_rounds``.

    Parameters
    ----------
    order
        The order to check; its ``account_key`` must be ``account.account_key``.
    account
        The account's cash, positions, prices, value, today's P&L and volumes.
    limits
        The limits in force now.
    market
        Today's session (and the next), and which assets trade in whole shares only.
    now
        The moment of checking (timezone-aware).
    max_rounds
        Bound on rounds; an order still being adjusted after that is a hard fail.

    Returns
    -------
    PreTradeDecision
        The order to route (``None`` after a hard fail) and every check result.
    """
    require_aware(now, name="now")
    if max_rounds < 1:
        raise InvalidInput(f"max_rounds must be at least 1, got {max_rounds}", field="max_rounds")
    if order.account_key != account.account_key:
        raise InvalidInput(
            f"order {order.client_order_id} is for account {order.account_key}, but the account "
            f"state is for {account.account_key}",
            field="account_key",
        )
    ctx = _Context(account=account, limits=limits, market=market, now=now)
    results: list[CheckResult] = []
    current = order
    adjusted = False
    for round_no in range(1, max_rounds + 1):
        soft = False
        for _name, check in CHECKS:
            result = dataclasses.replace(check(current, ctx), round=round_no)
            results.append(result)
            if result.outcome is CheckOutcome.HARD_FAIL:
                return PreTradeDecision(
                    order, None, CheckOutcome.HARD_FAIL, tuple(results), round_no
                )
            if result.outcome is CheckOutcome.SOFT_FAIL:
                soft = True
                assert result.adjusted_order is not None  # guaranteed by CheckResult
                current = result.adjusted_order
        if not soft:
            outcome = CheckOutcome.SOFT_FAIL if adjusted else CheckOutcome.PASS
            return PreTradeDecision(order, current, outcome, tuple(results), round_no)
        adjusted = True
    results.append(
        CheckResult(
            CheckName.ROUNDS,
            CheckOutcome.HARD_FAIL,
            f"{CheckName.ROUNDS}: the order was still being adjusted after max_rounds "
            f"{max_rounds} rounds",
            limit_value=Decimal(max_rounds),
            round=max_rounds,
        )
    )
    return PreTradeDecision(order, None, CheckOutcome.HARD_FAIL, tuple(results), max_rounds)


def project_fill(account: AccountState, order: OrderIntent) -> AccountState:
    """The account after ``order`` fills in full at its estimated price.

    Cash moves by quantity x estimated price, the position by the quantity, and the total value by
    the difference between the last price and the estimated price. Today's P&L is unchanged.
    """
    last = account.prices.get(order.symbol)
    if last is None:
        raise InvalidInput(f"no last price for {order.symbol}", field="prices")
    px = estimated_price(order, last_price=last)
    sign = Decimal(order.side.sign)
    positions = dict(account.positions)
    positions[order.symbol] = account.position(order.symbol) + sign * order.quantity
    return dataclasses.replace(
        account,
        cash=account.cash - sign * order.quantity * px,
        positions=positions,
        total_value=account.total_value + sign * order.quantity * (last - px),
    )


def check_batch(
    orders: Sequence[OrderIntent],
    *,
    account: AccountState,
    limits: RiskLimits,
    market: MarketContext,
    now: datetime,
    max_rounds: int = MAX_ROUNDS,
) -> PreTradeBatch:
    """Check a batch of orders for one account, sells first, carrying cash and positions forward.

    Sells run first so that the cash they free (at their estimated prices) is there for the buys;
    every accepted order, buy or sell, updates the account state that the next order is checked
    against, so earlier buys consume cash that later buys then do not see.

    Parameters
    ----------
    orders
        Orders for ``account``; client order ids must be unique.
    account, limits, market, now, max_rounds
        As for :func:`run_pre_trade_checks`.

    Returns
    -------
    PreTradeBatch
        One decision per order in checking order, and the projected account afterwards.
    """
    seen: set[str] = set()
    for order in orders:
        if order.client_order_id in seen:
            raise InvalidInput(
                f"client_order_id {order.client_order_id} appears twice in the batch",
                field="client_order_id",
            )
        seen.add(order.client_order_id)
    ordered = [o for o in orders if not o.is_buy] + [o for o in orders if o.is_buy]
    state = account
    decisions: list[PreTradeDecision] = []
    for order in ordered:
        decision = run_pre_trade_checks(
            order, account=state, limits=limits, market=market, now=now, max_rounds=max_rounds
        )
        decisions.append(decision)
        if decision.order is not None:
            state = project_fill(state, decision.order)
    return PreTradeBatch(decisions=tuple(decisions), account_after=state)
