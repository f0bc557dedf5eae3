"""Orders as the trading core sees them: what to trade, and what traded (fills).

Quantities are ``Decimal`` with at most 9 decimal places (Alpaca's precision), prices and cash are
``Decimal`` too. Assets that are not fractionable trade in whole shares; :func:`round_quantity_down`
is the one place that rounds a quantity to the lot step of an asset, always toward zero so that a
resized order never exceeds the limit it was resized to fit.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_DOWN, Decimal
from enum import StrEnum

from portfolios.core.errors import InvalidInput
from portfolios.core.money import QUANTITY_PLACES, QUANTITY_QUANT, ZERO, Number, to_decimal

MAX_CLIENT_ORDER_ID_LENGTH = 48
"""Longest client order id a broker accepts (Alpaca's limit)."""

WHOLE_SHARE = Decimal(1)
_MAX_QUANTITY = Decimal(10) ** 15


class OrderSide(StrEnum):
    BUY = "buy"
    SELL = "sell"

    @property
    def sign(self) -> int:
        """+1 for a buy (cash out, shares in), -1 for a sell."""
        return 1 if self is OrderSide.BUY else -1


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"


class TimeInForce(StrEnum):
    """How long an order stays live; only day orders are supported."""

    DAY = "day"


def require_aware(moment: datetime, *, name: str) -> datetime:
    """Return ``moment`` if it carries a time zone, else raise :class:`InvalidInput` naming it."""
    if not isinstance(moment, datetime):
        raise InvalidInput(f"{name} must be a datetime, got {type(moment).__name__}", field=name)
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidInput(
            f"{name} must be timezone-aware, got naive {moment.isoformat()}", field=name
        )
    return moment


def lot_step(*, fractionable: bool) -> Decimal:
    """Smallest tradable quantity increment: 1e-9 share when fractionable, else one share."""
    return QUANTITY_QUANT if fractionable else WHOLE_SHARE


def round_quantity_down(value: Decimal, *, fractionable: bool) -> Decimal:
    """Round a non-negative quantity down (toward zero) to the asset's lot step.

    Parameters
    ----------
    value
        Quantity in shares; negative values are clipped to zero.
    fractionable
        Whether the asset trades in fractions (9 places) or whole shares.

    Returns
    -------
    Decimal
        ``value`` rounded toward zero, with 9 decimal places (whole shares keep ``.000000000``).
    """
    if value <= 0:
        return ZERO.quantize(QUANTITY_QUANT)
    rounded = value.quantize(lot_step(fractionable=fractionable), rounding=ROUND_DOWN)
    return rounded.quantize(QUANTITY_QUANT)


def is_lot_multiple(value: Decimal, *, fractionable: bool) -> bool:
    """Whether ``value`` is an exact multiple of the asset's lot step."""
    return value == value.quantize(lot_step(fractionable=fractionable), rounding=ROUND_DOWN)


def _positive_quantity(value: Number, *, name: str) -> Decimal:
    result = to_decimal(value, name=name)
    if result <= 0:
        raise InvalidInput(f"{name} must be positive, got {result}", field=name)
    if result >= _MAX_QUANTITY:
        raise InvalidInput(f"{name} is too large: {result}", field=name)
    if result != result.quantize(QUANTITY_QUANT, rounding=ROUND_DOWN):
        raise InvalidInput(
            f"{name} has more than {QUANTITY_PLACES} decimal places: {result}", field=name
        )
    return result


def _positive_price(value: Number, *, name: str) -> Decimal:
    result = to_decimal(value, name=name)
    if result <= 0:
        raise InvalidInput(f"{name} must be positive, got {result}", field=name)
    return result


def _identifier(value: str, *, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{name} must be a non-empty string", field=name)
    return value.strip()


@dataclass(frozen=True)
class OrderIntent:
    """An order the platform wants to place, before any broker has seen it.

    Attributes
    ----------
    client_order_id
        Deterministic idempotency key; a broker holds at most one order per id.
    account_key
        The account the order trades for (the platform's account identifier as a string).
    symbol
        Ticker of the asset.
    side
        Buy or sell.
    quantity
        Shares, strictly positive, at most 9 decimal places.
    order_type
        Market or limit.
    limit_price
        Required for a limit order, absent for a market order.
    time_in_force
        Only day orders.
    not_before
        Earliest time the order may be routed; set when the market-hours check defers an order
        to the next open.
    """

    client_order_id: str
    account_key: str
    symbol: str
    side: OrderSide
    quantity: Decimal
    order_type: OrderType = OrderType.MARKET
    limit_price: Decimal | None = None
    time_in_force: TimeInForce = TimeInForce.DAY
    not_before: datetime | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "client_order_id", _identifier(self.client_order_id, name="client_order_id"))
        set_(self, "account_key", _identifier(self.account_key, name="account_key"))
        set_(self, "symbol", _identifier(self.symbol, name="symbol"))
        try:
            set_(self, "side", OrderSide(self.side))
        except ValueError as exc:
            raise InvalidInput(
                f"side must be buy or sell, got {self.side!r}", field="side"
            ) from exc
        try:
            set_(self, "order_type", OrderType(self.order_type))
        except ValueError as exc:
            raise InvalidInput(
                f"order_type must be market or limit, got {self.order_type!r}", field="order_type"
            ) from exc
        try:
            set_(self, "time_in_force", TimeInForce(self.time_in_force))
        except ValueError as exc:
            raise InvalidInput(
                f"time_in_force must be day, got {self.time_in_force!r}", field="time_in_force"
            ) from exc
        set_(self, "quantity", _positive_quantity(self.quantity, name="quantity"))
        if self.order_type is OrderType.LIMIT:
            if self.limit_price is None:
                raise InvalidInput("a limit order needs a limit_price", field="limit_price")
            set_(self, "limit_price", _positive_price(self.limit_price, name="limit_price"))
        elif self.limit_price is not None:
            raise InvalidInput("a market order must not have a limit_price", field="limit_price")
        if self.not_before is not None:
            require_aware(self.not_before, name="not_before")

    @property
    def is_buy(self) -> bool:
        return self.side is OrderSide.BUY

    def with_quantity(self, quantity: Decimal) -> OrderIntent:
        """The same order for a different (positive) quantity."""
        return dataclasses.replace(self, quantity=quantity)

    def deferred_to(self, moment: datetime) -> OrderIntent:
        """The same order, not to be routed before ``moment``."""
        return dataclasses.replace(self, not_before=require_aware(moment, name="not_before"))


@dataclass(frozen=True)
class Fill:
    """One execution of (part of) an order.

    Attributes
    ----------
    execution_id
        The venue's id for this execution, unique per venue.
    client_order_id
        The order that was filled.
    symbol, side
        What traded, in which direction.
    quantity
        Shares filled, strictly positive.
    price
        Execution price per share, strictly positive.
    fee
        Fees charged for this execution, in cash, non-negative.
    executed_at
        When the execution happened (timezone-aware).
    """

    execution_id: str
    client_order_id: str
    symbol: str
    side: OrderSide
    quantity: Decimal
    price: Decimal
    fee: Decimal
    executed_at: datetime

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "side", OrderSide(self.side))
        set_(self, "quantity", _positive_quantity(self.quantity, name="fill quantity"))
        set_(self, "price", _positive_price(self.price, name="fill price"))
        fee = to_decimal(self.fee, name="fee")
        if fee < 0:
            raise InvalidInput(f"fee must not be negative, got {fee}", field="fee")
        set_(self, "fee", fee)
        require_aware(self.executed_at, name="executed_at")

    @property
    def notional(self) -> Decimal:
        """Quantity times price, unrounded."""
        return self.quantity * self.price


def largest_quantity_within(budget: Decimal, unit_price: Decimal, *, fractionable: bool) -> Decimal:
    """The largest lot-rounded quantity whose cost ``quantity * unit_price`` fits in ``budget``.

    Parameters
    ----------
    budget
        Cash (or notional) available; zero or negative gives zero.
    unit_price
        Price per share, strictly positive.
    fractionable
        Whether the asset trades in fractions (9 places) or whole shares.

    Returns
    -------
    Decimal
        Quantity rounded down to the lot step, never costing more than ``budget``.
    """
    if unit_price <= 0:
        raise InvalidInput(f"unit price must be positive, got {unit_price}", field="price")
    if budget <= 0:
        return round_quantity_down(ZERO, fractionable=fractionable)
    result = round_quantity_down(budget / unit_price, fractionable=fractionable)
    step = lot_step(fractionable=fractionable)
    # Decimal division rounds its last digit; step back if that rounding overshot the budget.
    while result > 0 and result * unit_price > budget:
        result = round_quantity_down(result - step, fractionable=fractionable)
    return result
