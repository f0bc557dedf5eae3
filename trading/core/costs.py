"""Trading costs: a pre-trade estimate and the post-trade implementation shortfall.

Sign convention: a positive cost is money lost against the benchmark, for buys and sells alike.
Costs in basis points are relative to the arrival notional (ordered quantity x arrival price).

Pre-trade estimate for an order of Q shares at price P::

    commission  = max(minimum, per_share * Q + bps / 1e4 * Q * P)        (0 when Q = 0)
    spread cost = Q * P * spread_bps / 2 / 1e4                           (half the quoted spread)
    impact cost = Q * Y * sigma_daily * sqrt(Q / ADV) * P                (square-root law)

The square-root law gives the average price move per share, ``Y * sigma_daily * sqrt(Q / ADV) * P``,
with ``Y`` about 1. Post-trade, for an order of N shares with arrival price A, fills of F shares at
average price V, final price E and fees C::

    execution cost   = s * (V - A) * F
    opportunity cost = s * (E - A) * (N - F)
    shortfall        = execution cost + C + opportunity cost

where ``s`` is +1 for a buy and -1 for a sell.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from portfolios.core.errors import InvalidInput
from portfolios.core.money import ZERO, Number, cash, to_decimal
from portfolios.core.money import price as round_price
from trading.core.orders import Fill, OrderSide

_BPS = Decimal(10_000)
_BPS_QUANT = Decimal("0.01")


def _non_negative(value: Number, *, name: str) -> Decimal:
    result = to_decimal(value, name=name)
    if result < 0:
        raise InvalidInput(f"{name} must not be negative, got {result}", field=name)
    return result


@dataclass(frozen=True)
class FeeSchedule:
    """Commission per order: per share and/or in basis points of notional, with a minimum.

    Attributes
    ----------
    per_share
        Cash per share traded.
    bps
        Basis points of the traded notional.
    minimum
        Least commission for an order that trades at all.
    """

    per_share: Decimal = ZERO
    bps: Decimal = ZERO
    minimum: Decimal = ZERO

    def __post_init__(self) -> None:
        for name in ("per_share", "bps", "minimum"):
            object.__setattr__(self, name, _non_negative(getattr(self, name), name=name))

    def fee(self, quantity: Decimal, notional: Decimal) -> Decimal:
        """Commission for an order that traded ``quantity`` shares worth ``notional``, in cents."""
        if quantity <= 0:
            return cash(ZERO)
        raw = self.per_share * quantity + self.bps * notional / _BPS
        return cash(max(raw, self.minimum))


def _bps(amount: Decimal, base: Decimal) -> Decimal:
    if base == 0:
        return ZERO.quantize(_BPS_QUANT)
    return (amount / base * _BPS).quantize(_BPS_QUANT)


@dataclass(frozen=True)
class CostEstimate:
    """Pre-trade cost estimate of one order; cash amounts in cents.

    Attributes
    ----------
    notional
        Quantity x price.
    commission, spread_cost, impact_cost
        The three parts of the cost.
    total
        Their sum.
    total_bps
        ``total`` in basis points of ``notional``.
    """

    quantity: Decimal
    price: Decimal
    notional: Decimal
    commission: Decimal
    spread_cost: Decimal
    impact_cost: Decimal
    total: Decimal
    total_bps: Decimal


def market_impact_per_share(
    *,
    quantity: Decimal,
    price: Decimal,
    daily_volatility: float,
    average_daily_volume: Decimal,
    impact_coefficient: float = 1.0,
) -> float:
    """Square-root-law average price move per share: ``Y * sigma_daily * sqrt(Q / ADV) * price``.

    Parameters
    ----------
    quantity
        Q, shares (non-negative).
    price
        Price per share.
    daily_volatility
        sigma_daily, the daily return volatility as a fraction (0.02 is 2%).
    average_daily_volume
        ADV, shares, strictly positive.
    impact_coefficient
        Y, about 1.

    Returns
    -------
    float
        Price move per share, in price units.
    """
    if not math.isfinite(daily_volatility) or daily_volatility < 0:
        raise InvalidInput(
            f"daily_volatility must be finite and non-negative, got {daily_volatility}",
            field="daily_volatility",
        )
    if not math.isfinite(impact_coefficient) or impact_coefficient < 0:
        raise InvalidInput(
            f"impact_coefficient must be finite and non-negative, got {impact_coefficient}",
            field="impact_coefficient",
        )
    if average_daily_volume <= 0:
        raise InvalidInput(
            f"average_daily_volume must be positive, got {average_daily_volume}",
            field="average_daily_volume",
        )
    if quantity < 0:
        raise InvalidInput(f"quantity must not be negative, got {quantity}", field="quantity")
    return (
        impact_coefficient
        * daily_volatility
        * math.sqrt(float(quantity) / float(average_daily_volume))
        * float(price)
    )


def estimate_trading_cost(
    *,
    quantity: Number,
    price: Number,
    spread_bps: Number,
    daily_volatility: float,
    average_daily_volume: Number,
    fees: FeeSchedule = FeeSchedule(),
    impact_coefficient: float = 1.0,
) -> CostEstimate:
    """Estimate what trading ``quantity`` shares will cost: commission + half spread + impact.

    Parameters
    ----------
    quantity
        Shares to trade (either side; the cost is the same), non-negative.
    price
        Current price per share, strictly positive.
    spread_bps
        Quoted bid-ask spread in basis points of the price.
    daily_volatility
        Daily return volatility as a fraction.
    average_daily_volume
        Average daily volume in shares, strictly positive.
    fees
        The broker's commission schedule.
    impact_coefficient
        Y in the square-root law.

    Returns
    -------
    CostEstimate
        Each part in cents and the total in basis points of the notional.
    """
    qty = _non_negative(quantity, name="quantity")
    px = to_decimal(price, name="price")
    if px <= 0:
        raise InvalidInput(f"price must be positive, got {px}", field="price")
    spread = _non_negative(spread_bps, name="spread_bps")
    adv = to_decimal(average_daily_volume, name="average_daily_volume")
    notional = qty * px
    impact = market_impact_per_share(
        quantity=qty,
        price=px,
        daily_volatility=daily_volatility,
        average_daily_volume=adv,
        impact_coefficient=impact_coefficient,
    )
    commission = fees.fee(qty, notional)
    spread_cost = cash(notional * spread / 2 / _BPS)
    impact_cost = cash(qty * to_decimal(impact, name="impact"))
    total = commission + spread_cost + impact_cost
    return CostEstimate(
        quantity=qty,
        price=px,
        notional=cash(notional),
        commission=commission,
        spread_cost=spread_cost,
        impact_cost=impact_cost,
        total=total,
        total_bps=_bps(total, notional),
    )


@dataclass(frozen=True)
class ShortfallReport:
    """Implementation shortfall of one order against its arrival price; cash in cents.

    Attributes
    ----------
    side
        Buy or sell.
    ordered_quantity, filled_quantity, unfilled_quantity
        Shares.
    arrival_price
        Benchmark: the price when the order was decided.
    average_fill_price
        Quantity-weighted fill price (6 places), ``None`` when nothing filled.
    final_price
        Price the unfilled part is marked at (``None`` when everything filled).
    execution_cost
        ``s * (average fill - arrival) * filled``, positive when fills were worse than arrival.
    fees
        Sum of the fills' fees.
    opportunity_cost
        ``s * (final - arrival) * unfilled``, positive when the price moved away.
    total_cost
        Execution cost + fees + opportunity cost.
    arrival_notional
        Ordered quantity x arrival price.
    total_bps
        ``total_cost`` in basis points of ``arrival_notional``.
    """

    side: OrderSide
    ordered_quantity: Decimal
    filled_quantity: Decimal
    unfilled_quantity: Decimal
    arrival_price: Decimal
    average_fill_price: Decimal | None
    final_price: Decimal | None
    execution_cost: Decimal
    fees: Decimal
    opportunity_cost: Decimal
    total_cost: Decimal
    arrival_notional: Decimal
    total_bps: Decimal


def implementation_shortfall(
    *,
    side: OrderSide,
    ordered_quantity: Number,
    arrival_price: Number,
    fills: Sequence[Fill],
    final_price: Number | None = None,
) -> ShortfallReport:
    """Implementation shortfall of one order (positive = cost).

    Parameters
    ----------
    side
        The order's side; every fill must have it.
    ordered_quantity
        Shares ordered, strictly positive; fills may not add up to more.
    arrival_price
        Price when the order was decided, strictly positive.
    fills
        The order's fills (possibly none).
    final_price
        Price at the end of the execution window; required when part of the order is unfilled.

    Returns
    -------
    ShortfallReport
        Execution cost, fees, opportunity cost and their total, in cash and basis points.
    """
    side = OrderSide(side)
    ordered = to_decimal(ordered_quantity, name="ordered_quantity")
    if ordered <= 0:
        raise InvalidInput(
            f"ordered_quantity must be positive, got {ordered}", field="ordered_quantity"
        )
    arrival = to_decimal(arrival_price, name="arrival_price")
    if arrival <= 0:
        raise InvalidInput(f"arrival_price must be positive, got {arrival}", field="arrival_price")
    for fill in fills:
        if fill.side is not side:
            raise InvalidInput(
                f"fill {fill.execution_id} is a {fill.side}, the order is a {side}", field="fills"
            )
    filled = sum((f.quantity for f in fills), start=ZERO)
    if filled > ordered:
        raise InvalidInput(
            f"fills total {filled} shares, more than the {ordered} ordered", field="fills"
        )
    unfilled = ordered - filled
    sign = Decimal(side.sign)
    notional_filled = sum((f.notional for f in fills), start=ZERO)
    fees = sum((f.fee for f in fills), start=ZERO)
    final: Decimal | None = None
    if final_price is not None:
        final = to_decimal(final_price, name="final_price")
        if final <= 0:
            raise InvalidInput(f"final_price must be positive, got {final}", field="final_price")
    if unfilled > 0 and final is None:
        raise InvalidInput(
            f"{unfilled} shares are unfilled; final_price is needed to mark them",
            field="final_price",
        )
    execution = sign * (notional_filled - arrival * filled)
    opportunity = sign * (final - arrival) * unfilled if final is not None else ZERO
    # The total is the sum of the rounded parts, so the report adds up as displayed.
    total = cash(execution) + cash(fees) + cash(opportunity)
    arrival_notional = ordered * arrival
    return ShortfallReport(
        side=side,
        ordered_quantity=ordered,
        filled_quantity=filled,
        unfilled_quantity=unfilled,
        arrival_price=arrival,
        average_fill_price=round_price(notional_filled / filled) if filled > 0 else None,
        final_price=final,
        execution_cost=cash(execution),
        fees=cash(fees),
        opportunity_cost=cash(opportunity),
        total_cost=total,
        arrival_notional=cash(arrival_notional),
        total_bps=_bps(total, arrival_notional),
    )


@dataclass(frozen=True)
class ShortfallSummary:
    """Implementation shortfall summed over orders (for example all of a proposal's orders).

    Attributes
    ----------
    orders
        How many orders.
    execution_cost, fees, opportunity_cost, total_cost
        Sums of the orders' amounts, in cents.
    arrival_notional
        Sum of the orders' arrival notionals (buys and sells both count as traded value).
    total_bps
        ``total_cost`` in basis points of ``arrival_notional``.
    """

    orders: int
    execution_cost: Decimal
    fees: Decimal
    opportunity_cost: Decimal
    total_cost: Decimal
    arrival_notional: Decimal
    total_bps: Decimal


def aggregate_shortfall(reports: Iterable[ShortfallReport]) -> ShortfallSummary:
    """Sum per-order shortfalls; basis points are weighted by arrival notional."""
    items = list(reports)

    def total(attr: str) -> Decimal:
        return sum((getattr(r, attr) for r in items), start=cash(ZERO))

    total_cost = total("total_cost")
    arrival_notional = total("arrival_notional")
    return ShortfallSummary(
        orders=len(items),
        execution_cost=total("execution_cost"),
        fees=total("fees"),
        opportunity_cost=total("opportunity_cost"),
        total_cost=total_cost,
        arrival_notional=arrival_notional,
        total_bps=_bps(total_cost, arrival_notional),
    )
