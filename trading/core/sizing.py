"""Turn a target change in a position into an order: lot rounding, a cash buffer, a minimum size.

The rebalancer computes how many shares of each asset it wants to buy or sell (a quantity delta);
:func:`size_order` makes that a tradable :class:`~trading.core.orders.OrderIntent`, or says why
there is nothing worth trading.
"""

from __future__ import annotations

from dataclasses import dataclass

from portfolios.core.errors import InvalidInput
from portfolios.core.money import ZERO, Number, cash, to_decimal
from trading.core.orders import (
    OrderIntent,
    OrderSide,
    OrderType,
    largest_quantity_within,
    round_quantity_down,
)


@dataclass(frozen=True)
class SizedOrder:
    """The order to place for a quantity delta, or ``None`` with the reason it was skipped.

    Attributes
    ----------
    order
        The order, or ``None`` when nothing should trade.
    reason
        One sentence for the proposal: why the order has this size, or why it was skipped.
    """

    order: OrderIntent | None
    reason: str


def size_order(
    *,
    client_order_id: str,
    account_key: str,
    symbol: str,
    quantity_delta: Number,
    price: Number,
    fractionable: bool = True,
    min_trade_notional: Number = ZERO,
    available_cash: Number | None = None,
    cash_buffer: Number = ZERO,
    held_quantity: Number | None = None,
    order_type: OrderType = OrderType.MARKET,
    limit_price: Number | None = None,
) -> SizedOrder:
    """Size the order that moves a position by ``quantity_delta`` shares.

    Rules, in order:

    1. The sign of ``quantity_delta`` gives the side; its size is rounded down to the lot step
       (9 places, or whole shares when ``fractionable`` is false).
    2. A sell never exceeds ``held_quantity`` when that is given.
    3. A buy never spends more than ``available_cash - cash_buffer`` at the estimated price (the
       limit price for a limit order, else ``price``) when ``available_cash`` is given; it is
       resized down to fit.
    4. An order below ``min_trade_notional`` at ``price`` is skipped, except a sell that closes
       the whole position (so small leftovers can still be liquidated).

    Parameters
    ----------
    client_order_id, account_key, symbol
        Identify the order, as in :class:`~trading.core.orders.OrderIntent`.
    quantity_delta
        Target quantity minus current quantity, shares; positive buys, negative sells.
    price
        Current price per share, strictly positive.
    fractionable
        Whether the asset trades in fractions.
    min_trade_notional
        Smallest order value worth trading, cash.
    available_cash
        Cash the account can spend on this buy; ``None`` skips the cash rule.
    cash_buffer
        Cash to keep aside from ``available_cash``.
    held_quantity
        Current position; ``None`` skips the position rule.
    order_type, limit_price
        The order's type, and its limit price for a limit order.

    Returns
    -------
    SizedOrder
        The order (or ``None``) and the reason.
    """
    delta = to_decimal(quantity_delta, name="quantity_delta")
    px = to_decimal(price, name="price")
    if px <= 0:
        raise InvalidInput(f"price for {symbol} must be positive, got {px}", field="price")
    minimum = to_decimal(min_trade_notional, name="min_trade_notional")
    buffer = to_decimal(cash_buffer, name="cash_buffer")
    if minimum < 0 or buffer < 0:
        raise InvalidInput(
            "min_trade_notional and cash_buffer must not be negative", field="min_trade_notional"
        )
    limit = None if limit_price is None else to_decimal(limit_price, name="limit_price")
    if order_type is OrderType.LIMIT and (limit is None or limit <= 0):
        raise InvalidInput("a limit order needs a positive limit_price", field="limit_price")
    if delta == 0:
        return SizedOrder(None, f"{symbol}: no change in position")

    side = OrderSide.BUY if delta > 0 else OrderSide.SELL
    qty = round_quantity_down(abs(delta), fractionable=fractionable)
    closes_position = False
    notes: list[str] = []
    if side is OrderSide.SELL and held_quantity is not None:
        held = round_quantity_down(
            to_decimal(held_quantity, name="held_quantity"), fractionable=fractionable
        )
        if qty >= held:
            if qty > held:
                notes.append(f"capped at the position of {held.normalize():f}")
            qty = held
            closes_position = held > 0
    if side is OrderSide.BUY and available_cash is not None:
        spendable = to_decimal(available_cash, name="available_cash") - buffer
        est = limit if order_type is OrderType.LIMIT and limit is not None else px
        if qty * est > spendable:
            qty = largest_quantity_within(spendable, est, fractionable=fractionable)
            notes.append(
                f"resized to the cash available after the buffer ({cash(max(spendable, ZERO)):,})"
            )
    if qty <= 0:
        detail = "; ".join(notes) if notes else f"{abs(delta).normalize():f} shares rounds to zero"
        return SizedOrder(None, f"{symbol}: nothing to {side}: {detail}")
    notional = qty * px
    if notional < minimum and not closes_position:
        return SizedOrder(
            None,
            f"{symbol}: {side} of {cash(notional):,} is below the minimum trade of "
            f"{cash(minimum):,}",
        )
    order = OrderIntent(
        client_order_id=client_order_id,
        account_key=account_key,
        symbol=symbol,
        side=side,
        quantity=qty,
        order_type=order_type,
        limit_price=limit if order_type is OrderType.LIMIT else None,
    )
    reason = f"{symbol}: {side} {qty.normalize():f} shares (~{cash(notional):,})"
    if notes:
        reason += "; " + "; ".join(notes)
    return SizedOrder(order, reason)
