"""Money and quantities as ``Decimal``, rounded in one place with one rounding mode.

Cash has 2 decimal places, share quantities 9 (Alpaca's precision), prices 6. Everything rounds
half-to-even (banker's rounding, ``ROUND_HALF_EVEN``) except where a function says otherwise:
:func:`weights_to_quantities` rounds quantities *down* so a set of buys never spends more cash than
it was given. Floats only appear inside ``core`` numerics; they cross into money through
:func:`to_decimal`, which goes through ``repr`` so 0.1 becomes ``Decimal("0.1")``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal, InvalidOperation

from portfolios.core.errors import InvalidInput

CASH_PLACES = 2
QUANTITY_PLACES = 9
PRICE_PLACES = 6
ROUNDING = ROUND_HALF_EVEN

CASH_QUANT = Decimal(1).scaleb(-CASH_PLACES)
QUANTITY_QUANT = Decimal(1).scaleb(-QUANTITY_PLACES)
PRICE_QUANT = Decimal(1).scaleb(-PRICE_PLACES)
ZERO = Decimal(0)
#: The largest amount a person may enter (the portal's forms, the API, onboarding's lots): 12
#: digits before the cents, which every database holds exactly, SQLite's floating point included.
MAX_ENTERED_CASH = Decimal("999999999999.99")

Number = Decimal | int | float | str


def to_decimal(value: Number, *, name: str = "value") -> Decimal:
    """Convert ``value`` to a finite ``Decimal`` or raise :class:`InvalidInput` naming ``name``."""
    if isinstance(value, bool):
        raise InvalidInput(f"{name} must be a number, not a boolean", field=name)
    try:
        if isinstance(value, float):
            if not math.isfinite(value):
                raise InvalidInput(f"{name} must be finite, got {value!r}", field=name)
            result = Decimal(repr(value))
        elif isinstance(value, str):
            result = Decimal(value.strip().replace(",", ""))
        else:
            result = Decimal(value)
    except (InvalidOperation, ValueError) as exc:
        raise InvalidInput(f"{name} is not a number: {value!r}", field=name) from exc
    if not result.is_finite():
        raise InvalidInput(f"{name} must be finite, got {value!r}", field=name)
    return result


def cash(value: Number, *, name: str = "amount") -> Decimal:
    """Round to cents, half-to-even."""
    return to_decimal(value, name=name).quantize(CASH_QUANT, rounding=ROUNDING)


def quantity(value: Number, *, name: str = "quantity") -> Decimal:
    """Round to 9 places, half-to-even."""
    return to_decimal(value, name=name).quantize(QUANTITY_QUANT, rounding=ROUNDING)


def price(value: Number, *, name: str = "price") -> Decimal:
    """Round to 6 places, half-to-even."""
    return to_decimal(value, name=name).quantize(PRICE_QUANT, rounding=ROUNDING)


def weights_to_quantities(
    *,
    weights: Mapping[str, float],
    prices: Mapping[str, Decimal],
    total_value: Decimal,
    fractional: bool = True,
) -> dict[str, Decimal]:
    """Turn target weights into share quantities: the one place that does.

    Parameters
    ----------
    weights
        Target weight per symbol; each in [0, 1], summing to at most 1 (the rest stays cash).
    prices
        Price per share for every symbol in ``weights``; strictly positive.
    total_value
        The value the weights apply to, in cash units.
    fractional
        When true quantities keep 9 decimal places; when false they are whole shares.

    Returns
    -------
    dict
        Quantity per symbol, rounded *down* so that sum(quantity * price) <= total_value.
    """
    if total_value < 0:
        raise InvalidInput("total_value must not be negative", field="total_value")
    weight_sum = 0.0
    result: dict[str, Decimal] = {}
    step = QUANTITY_QUANT if fractional else Decimal(1)
    for symbol, weight in weights.items():
        if not math.isfinite(weight) or weight < -1e-12 or weight > 1 + 1e-12:
            raise InvalidInput(f"weight for {symbol} must be in [0, 1], got {weight}", field=symbol)
        weight_sum += max(weight, 0.0)
        if symbol not in prices:
            raise InvalidInput(f"no price for {symbol}", field=symbol)
        px = prices[symbol]
        if px <= 0:
            raise InvalidInput(f"price for {symbol} must be positive, got {px}", field=symbol)
        notional = to_decimal(max(weight, 0.0), name=symbol) * total_value
        result[symbol] = (notional / px).quantize(step, rounding=ROUND_DOWN)
    if weight_sum > 1 + 1e-9:
        raise InvalidInput(f"weights sum to {weight_sum:.6f}, more than 1", field="weights")
    return result
