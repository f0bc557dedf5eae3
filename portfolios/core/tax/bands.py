"""Tax-aware rebalancing bands: tolerate more drift where selling down would cost tax.

For an overweight asset in a taxable account, the tax cost of selling down to target with the
best lots (the tax-minimising order) divided by the trade's notional is its
``tax_impact_factor``, floored at 0 (a sale that realises a net loss costs nothing). The asset's
drift band widens to ``base_threshold * (1 + tax_impact_factor)``; in IRA and Roth IRA accounts
sales cost no tax, the factor is 0 and the band is the base threshold.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

from portfolios.core.errors import InvalidInput
from portfolios.core.money import CASH_QUANT, QUANTITY_QUANT, ROUNDING, ZERO
from portfolios.core.tax.accounts import AccountType, TaxRates
from portfolios.core.tax.holding import Term
from portfolios.core.tax.lots import (
    LotMethod,
    RealisedLot,
    TaxLot,
    close_lots,
    require_money,
    sale_proceeds,
)


@dataclass(frozen=True, slots=True)
class SaleTaxCost:
    """The estimated tax of a sale with the tax-minimising lots.

    ``tax`` is ``short_term_gain * short-term rate + long_term_gain * long-term rate`` in cents,
    negative when the sale realises losses; it is zero in IRA and Roth IRA accounts.
    """

    notional: Decimal
    short_term_gain: Decimal
    long_term_gain: Decimal
    tax: Decimal
    closures: tuple[RealisedLot, ...]

    @property
    def impact_factor(self) -> float:
        """``tax / notional``, floored at 0."""
        if self.tax <= 0 or self.notional <= 0:
            return 0.0
        return float(self.tax / self.notional)


@dataclass(frozen=True, slots=True)
class AssetBand:
    """The drift band of one asset in an account.

    ``sell_quantity`` is what selling down to target would sell (0 unless overweight);
    ``band`` is the drift tolerated before rebalancing, in weight units like the base threshold.
    """

    symbol: str
    current_weight: float
    target_weight: float
    sell_quantity: Decimal
    tax: Decimal
    tax_impact_factor: float
    band: float


def tax_cost_of_sale(
    lots: Sequence[TaxLot],
    *,
    quantity: Decimal,
    price: Decimal,
    sale_date: dt.date,
    rates: TaxRates,
    account_type: AccountType = AccountType.TAXABLE,
) -> SaleTaxCost:
    """Tax of selling ``quantity`` shares at ``price`` from ``lots``, tax-minimising lots first.

    Parameters
    ----------
    lots
        Open lots of the asset in the account.
    quantity
        Shares to sell.
    price
        Price per share.
    sale_date
        Decides each lot's term.
    rates
        The client's rates.
    account_type
        IRA and Roth IRA sales cost no tax.

    Returns
    -------
    SaleTaxCost
    """
    closing = close_lots(
        lots,
        quantity=quantity,
        sale_price=price,
        sale_date=sale_date,
        method=LotMethod.TAX_MINIMISING,
        rates=rates,
        reportable=not account_type.is_tax_advantaged,
    )
    short = sum((c.proceeds - c.cost_basis for c in closing.closures if c.term is Term.SHORT), ZERO)
    long = sum((c.proceeds - c.cost_basis for c in closing.closures if c.term is Term.LONG), ZERO)
    tax = ZERO
    if not account_type.is_tax_advantaged:
        tax = (short * rates.short_term + long * rates.long_term).quantize(
            CASH_QUANT, rounding=ROUNDING
        )
    return SaleTaxCost(
        notional=sale_proceeds(quantity, price),
        short_term_gain=short,
        long_term_gain=long,
        tax=tax,
        closures=closing.closures,
    )


def tax_impact_factor(
    lots: Sequence[TaxLot],
    *,
    quantity: Decimal,
    price: Decimal,
    sale_date: dt.date,
    rates: TaxRates,
    account_type: AccountType = AccountType.TAXABLE,
) -> float:
    """Tax cost of the sale divided by its notional, floored at 0 (0 in IRA and Roth IRA)."""
    return tax_cost_of_sale(
        lots,
        quantity=quantity,
        price=price,
        sale_date=sale_date,
        rates=rates,
        account_type=account_type,
    ).impact_factor


def rebalance_band(
    *,
    base_threshold: float,
    tax_impact_factor: float,
    account_type: AccountType = AccountType.TAXABLE,
) -> float:
    """``base_threshold * (1 + tax_impact_factor)``; the factor counts as 0 in IRA and Roth IRA."""
    if not math.isfinite(base_threshold) or base_threshold < 0:
        raise InvalidInput(
            f"base_threshold must be a non-negative number, got {base_threshold}",
            field="base_threshold",
        )
    if not math.isfinite(tax_impact_factor) or tax_impact_factor < 0:
        raise InvalidInput(
            f"tax_impact_factor must be a non-negative number, got {tax_impact_factor}",
            field="tax_impact_factor",
        )
    factor = 0.0 if account_type.is_tax_advantaged else tax_impact_factor
    return base_threshold * (1.0 + factor)


def rebalance_bands(
    *,
    lots: Sequence[TaxLot],
    prices: Mapping[str, Decimal],
    target_weights: Mapping[str, float],
    total_value: Decimal,
    sale_date: dt.date,
    rates: TaxRates,
    base_threshold: float,
    account_type: AccountType = AccountType.TAXABLE,
) -> dict[str, AssetBand]:
    """The drift band of every asset held or targeted in one account.

    Parameters
    ----------
    lots
        The account's open lots.
    prices
        Price per held symbol.
    target_weights
        Target weight per symbol, fractions of ``total_value``.
    total_value
        The account's value, cash included, that the weights apply to.
    sale_date
        The date a sale would trade.
    rates
        The client's rates.
    base_threshold
        The drift band before tax, in weight units (for example 0.05).
    account_type
        The account's type.

    Returns
    -------
    dict
        Symbol to :class:`AssetBand`, sorted by symbol.
    """
    require_money(total_value, name="total_value", positive=True)
    by_symbol: dict[str, list[TaxLot]] = {}
    for lot in lots:
        by_symbol.setdefault(lot.symbol, []).append(lot)
    bands: dict[str, AssetBand] = {}
    for symbol in sorted(set(by_symbol) | set(target_weights)):
        target = float(target_weights.get(symbol, 0.0))
        if not math.isfinite(target) or target < 0:
            raise InvalidInput(f"target weight of {symbol} must be >= 0", field="target_weights")
        held_lots = by_symbol.get(symbol, [])
        held = sum((lot.quantity for lot in held_lots), ZERO)
        value = ZERO
        if held_lots:
            price = prices.get(symbol)
            if price is None or price <= 0:
                raise InvalidInput(f"no positive price for {symbol}", field="prices")
            value = held * price
        current = float(value / total_value)
        sell = ZERO
        tax = ZERO
        factor = 0.0
        if current > target and held_lots:
            excess = value - Decimal(repr(target)) * total_value
            sell = min(held, (excess / prices[symbol]).quantize(QUANTITY_QUANT, ROUND_DOWN))
            if sell > 0:
                cost = tax_cost_of_sale(
                    held_lots,
                    quantity=sell,
                    price=prices[symbol],
                    sale_date=sale_date,
                    rates=rates,
                    account_type=account_type,
                )
                tax, factor = cost.tax, cost.impact_factor
        bands[symbol] = AssetBand(
            symbol=symbol,
            current_weight=current,
            target_weight=target,
            sell_quantity=sell,
            tax=tax,
            tax_impact_factor=factor,
            band=rebalance_band(
                base_threshold=base_threshold, tax_impact_factor=factor, account_type=account_type
            ),
        )
    return bands
