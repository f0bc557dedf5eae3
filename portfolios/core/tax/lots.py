"""Tax lots: every purchase opens one, every sale closes lots by the account's method.

A lot keeps its *total* cost basis in cents next to its quantity, never a rounded price per
share, so that splitting a lot can neither lose nor create a cent: the part taken gets the basis
``round(basis * taken / quantity)`` (half-to-even, computed exactly) and the part left keeps
the rest. Proceeds of a sale are spread over the lots it closes the same way, by cumulative
rounding (:func:`allocate_cash`), so the parts always sum to the sale's proceeds exactly.

Lot selection methods (Publication 550, "Stocks and Bonds: identifying the shares sold"):

* FIFO, the default when shares are not adequately identified: oldest trade date first.
* HIFO: highest cost per share first (a standing "specific identification" instruction).
* Specific identification: the lots the client names, in the order named.
* Tax-minimising: the lots whose sale costs the least tax first; losses come before gains, and
  among gains the cheapest in tax (usually long-term) come first. With :class:`TaxRates` the
  key is the tax per share, ``(price - cost per share) * rate(term)``; without rates the order
  is short-term losses, long-term losses (largest loss per share first), then long-term gains,
  short-term gains (smallest gain per share first).

Ties always fall back on trade date, then the order in which the lots were given.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Context, Decimal
from enum import StrEnum

from portfolios.core.errors import InvalidInput
from portfolios.core.money import CASH_QUANT, QUANTITY_QUANT, ROUNDING, ZERO
from portfolios.core.tax.accounts import TaxRates
from portfolios.core.tax.basis_reporting import Form8949Box, form_8949_box
from portfolios.core.tax.holding import Term, holding_term

_EXACT = Context(prec=80, rounding=ROUNDING)


class LotMethod(StrEnum):
    """How a sale chooses the lots it closes."""

    FIFO = "fifo"
    HIFO = "hifo"
    SPECIFIC = "specific"
    TAX_MINIMISING = "tax_minimising"


@dataclass(frozen=True, slots=True)
class TaxLot:
    """Shares of one asset in one account bought together, with their total cost basis.

    Attributes
    ----------
    lot_id
        Identifier; a purchase's lot has the purchase's id, a part split off by a wash sale has
        ``"<lot_id>~<record_id>"``.
    account_id, symbol
        Where the shares are held and what they are.
    quantity
        Shares, positive, 9 decimal places.
    cost_basis
        Total cost basis in cash (2 places), including fees and any wash-sale adjustment.
    acquired_on
        Trade date of the purchase (Form 8949 column (b)).
    tacked_acquired_on
        The earlier date the holding period counts from after a wash sale tacked the sold lot's
        holding period on (Publication 550, "Wash Sales"); ``None`` when nothing was tacked.
    acquisition_id
        The purchase (or filled order) the shares came from; defaults to ``lot_id``. Shares of
        the same purchase never replace each other in a wash sale.
    wash_sale_adjustment
        The part of ``cost_basis`` that is disallowed loss added by wash sales.
    replacement_for
        The realised-lot record whose loss these shares already washed, if any: a share can
        replace only one loss.
    basis_reported
        Whether the broker reports this lot's basis to the IRS on Form 1099-B (a "covered"
        security, :func:`portfolios.core.tax.basis_reporting.basis_reported_by_date`); it decides the
        Form 8949 box of the lot's sales.
    """

    lot_id: str
    account_id: str
    symbol: str
    quantity: Decimal
    cost_basis: Decimal
    acquired_on: dt.date
    tacked_acquired_on: dt.date | None = None
    acquisition_id: str = ""
    wash_sale_adjustment: Decimal = ZERO
    replacement_for: str | None = None
    basis_reported: bool = True

    def __post_init__(self) -> None:
        if not self.acquisition_id:
            object.__setattr__(self, "acquisition_id", self.lot_id)
        if not self.quantity > 0:
            raise InvalidInput(
                f"lot {self.lot_id} must have a positive quantity, got {self.quantity}",
                field="quantity",
            )
        if not self.cost_basis.is_finite() or self.cost_basis < 0:
            raise InvalidInput(
                f"lot {self.lot_id} must have a non-negative cost basis, got {self.cost_basis}",
                field="cost_basis",
            )

    @property
    def holding_acquired_on(self) -> dt.date:
        """The date the holding period counts from: the tacked date if any, else the trade date."""
        return self.tacked_acquired_on or self.acquired_on

    @property
    def cost_per_share(self) -> Decimal:
        """Cost basis per share, unrounded (for ordering and display, never for booking)."""
        return _EXACT.divide(self.cost_basis, self.quantity)

    def term_on(self, sold_on: dt.date) -> Term:
        """Short or long term if sold on ``sold_on``."""
        return holding_term(self.holding_acquired_on, sold_on)


@dataclass(frozen=True, slots=True)
class RealisedLot:
    """One closed lot (or part of one): a row of IRS Form 8949.

    The columns: (a) :attr:`description`, (b) :attr:`acquired_on`, (c) :attr:`sold_on`,
    (d) :attr:`proceeds`, (e) :attr:`cost_basis`, (f) :attr:`adjustment_code`,
    (g) :attr:`adjustment`, (h) :attr:`gain_or_loss` = (d) - (e) + (g), as the Form 8949
    instructions define column (h). A wash sale enters code W and the nondeductible loss as a
    positive amount in column (g).

    ``reportable`` is false for sales in IRA and Roth IRA accounts: they realise nothing that is
    reported and they are never washed. ``basis_reported`` is the sold lot's: whether Form 1099-B
    reports the basis to the IRS, which decides the Form 8949 box (:attr:`form_8949_box`).
    """

    record_id: str
    sale_id: str
    lot_id: str
    acquisition_id: str
    account_id: str
    symbol: str
    quantity: Decimal
    acquired_on: dt.date
    holding_acquired_on: dt.date
    sold_on: dt.date
    proceeds: Decimal
    cost_basis: Decimal
    term: Term
    reportable: bool = True
    wash_sale_disallowed: Decimal = ZERO
    washed_quantity: Decimal = ZERO
    basis_reported: bool = True

    @property
    def form_8949_box(self) -> Form8949Box:
        """The Form 8949 box the row goes under: A or B (short-term), D or E (long-term)."""
        return form_8949_box(self.term, basis_reported=self.basis_reported)

    @property
    def description(self) -> str:
        """Form 8949 column (a), e.g. ``"100 sh XYZ"``."""
        return f"{format_quantity(self.quantity)} sh {self.symbol}"

    @property
    def adjustment_code(self) -> str:
        """Form 8949 column (f): ``"W"`` when a wash sale disallowed part of the loss."""
        return "W" if self.wash_sale_disallowed else ""

    @property
    def adjustment(self) -> Decimal:
        """Form 8949 column (g): the disallowed loss, a positive amount."""
        return self.wash_sale_disallowed

    @property
    def gain_or_loss(self) -> Decimal:
        """Form 8949 column (h): proceeds minus basis plus the adjustment."""
        return self.proceeds - self.cost_basis + self.wash_sale_disallowed

    @property
    def loss(self) -> Decimal:
        """The loss before any wash sale (basis minus proceeds), or zero for a gain."""
        return max(self.cost_basis - self.proceeds, ZERO)

    @property
    def unwashed_quantity(self) -> Decimal:
        """Shares of a loss not yet matched to a replacement."""
        return self.quantity - self.washed_quantity


@dataclass(frozen=True, slots=True)
class LotClosing:
    """What a sale did to a position: the lots it closed and the lots left open."""

    closures: tuple[RealisedLot, ...]
    remaining: tuple[TaxLot, ...]


def format_quantity(value: Decimal) -> str:
    """A quantity without trailing zeros and never in exponent form: ``100``, ``0.5``."""
    text = f"{value:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def prorate_cash(total: Decimal, part: Decimal, whole: Decimal) -> Decimal:
    """``total * part / whole`` rounded half-to-even to cents, computed without intermediate loss.

    ``part == whole`` returns ``total`` itself, so taking everything never rounds.
    """
    if part == whole:
        return total
    exact = _EXACT.divide(_EXACT.multiply(total, part), whole)
    return exact.quantize(CASH_QUANT, rounding=ROUNDING)


def allocate_cash(total: Decimal, weights: Sequence[Decimal]) -> list[Decimal]:
    """Split ``total`` (cents) in proportion to ``weights``, exactly, by cumulative rounding.

    Part ``k`` is ``round(total * W_k / W) - round(total * W_(k-1) / W)`` where ``W_k`` is the
    sum of the first ``k`` weights: the parts sum to ``total`` exactly, each is within a cent of
    its exact share, and the result depends only on the order of ``weights``.

    Parameters
    ----------
    total
        Cash amount, 2 places.
    weights
        Non-negative weights (quantities), shape (n,), with a positive sum.

    Returns
    -------
    list of Decimal
        n cash amounts summing to ``total``.
    """
    whole = sum(weights, ZERO)
    if whole <= 0:
        raise InvalidInput("weights must have a positive sum to allocate an amount")
    parts: list[Decimal] = []
    running = ZERO
    allocated = ZERO
    for weight in weights:
        running += weight
        cumulative = prorate_cash(total, running, whole)
        parts.append(cumulative - allocated)
        allocated = cumulative
    return parts


def require_quantity(value: Decimal, *, name: str = "quantity") -> Decimal:
    """Check that ``value`` is a positive Decimal with at most 9 decimal places."""
    if not isinstance(value, Decimal) or not value.is_finite() or value <= 0:
        raise InvalidInput(f"{name} must be a positive Decimal, got {value!r}", field=name)
    if value != value.quantize(QUANTITY_QUANT):
        raise InvalidInput(f"{name} has more than 9 decimal places: {value}", field=name)
    return value


def require_money(value: Decimal, *, name: str, positive: bool = False) -> Decimal:
    """Check that ``value`` is a finite, non-negative (or positive) Decimal."""
    if not isinstance(value, Decimal) or not value.is_finite():
        raise InvalidInput(f"{name} must be a finite Decimal, got {value!r}", field=name)
    if value < 0 or (positive and value == 0):
        kind = "positive" if positive else "non-negative"
        raise InvalidInput(f"{name} must be {kind}, got {value}", field=name)
    return value


def purchase_cost(quantity: Decimal, price: Decimal, fees: Decimal = ZERO) -> Decimal:
    """Cost basis of a purchase: ``quantity * price + fees`` rounded to cents (Publication 551)."""
    exact = _EXACT.add(_EXACT.multiply(quantity, price), fees)
    return exact.quantize(CASH_QUANT, rounding=ROUNDING)


def sale_proceeds(quantity: Decimal, price: Decimal, fees: Decimal = ZERO) -> Decimal:
    """Proceeds of a sale net of its fees, rounded to cents (Form 8949 column (d))."""
    exact = _EXACT.subtract(_EXACT.multiply(quantity, price), fees)
    proceeds = exact.quantize(CASH_QUANT, rounding=ROUNDING)
    if proceeds < 0:
        raise InvalidInput(
            f"fees of {fees} exceed the gross amount of selling {quantity} at {price}",
            field="fees",
        )
    return proceeds


def open_lot(
    *,
    lot_id: str,
    account_id: str,
    symbol: str,
    quantity: Decimal,
    price: Decimal,
    acquired_on: dt.date,
    fees: Decimal = ZERO,
    basis_reported: bool = True,
) -> TaxLot:
    """The lot a purchase opens: basis ``quantity * price + fees`` in cents.

    Parameters
    ----------
    lot_id
        The purchase's (fill's) identifier; also the lot's acquisition id.
    account_id, symbol
        Where and what.
    quantity
        Shares bought, positive, at most 9 decimal places.
    price
        Price per share, positive.
    acquired_on
        Trade date.
    fees
        Commissions and fees, non-negative; they are part of the basis.
    basis_reported
        Whether the broker reports the basis to the IRS (a covered security).
    """
    require_quantity(quantity)
    require_money(price, name="price", positive=True)
    require_money(fees, name="fees")
    return TaxLot(
        lot_id=lot_id,
        account_id=account_id,
        symbol=symbol,
        quantity=quantity,
        cost_basis=purchase_cost(quantity, price, fees),
        acquired_on=acquired_on,
        acquisition_id=lot_id,
        basis_reported=basis_reported,
    )


def split_lot(lot: TaxLot, quantity: Decimal) -> tuple[Decimal, Decimal]:
    """Basis and wash-sale adjustment of ``quantity`` shares taken out of ``lot``.

    The part left keeps ``lot.cost_basis`` minus the first value, so the two parts always sum
    to the original exactly.
    """
    basis = prorate_cash(lot.cost_basis, quantity, lot.quantity)
    adjustment = prorate_cash(lot.wash_sale_adjustment, quantity, lot.quantity)
    return basis, adjustment


def order_lots(
    lots: Sequence[TaxLot],
    *,
    method: LotMethod,
    sale_price: Decimal | None = None,
    sale_date: dt.date | None = None,
    rates: TaxRates | None = None,
    specific_lot_ids: Sequence[str] | None = None,
) -> list[TaxLot]:
    """The lots in the order a sale by ``method`` closes them.

    Parameters
    ----------
    lots
        Open lots of one asset in one account, in the order they were opened.
    method
        The lot selection method.
    sale_price, sale_date
        Needed by :attr:`LotMethod.TAX_MINIMISING` (gain per share and term).
    rates
        Optional rates for :attr:`LotMethod.TAX_MINIMISING`.
    specific_lot_ids
        For :attr:`LotMethod.SPECIFIC`: the lots to close, in order; only these are returned.

    Returns
    -------
    list of TaxLot
    """
    position = {id(lot): index for index, lot in enumerate(lots)}

    def by_date(lot: TaxLot) -> tuple[dt.date, int]:
        return (lot.acquired_on, position[id(lot)])

    if method is LotMethod.FIFO:
        return sorted(lots, key=by_date)
    if method is LotMethod.HIFO:
        return sorted(lots, key=lambda lot: (-lot.cost_per_share, *by_date(lot)))
    if method is LotMethod.SPECIFIC:
        if not specific_lot_ids:
            raise InvalidInput(
                "specific identification needs the lot ids to sell", field="specific_lot_ids"
            )
        by_id = {lot.lot_id: lot for lot in lots}
        missing = [lot_id for lot_id in specific_lot_ids if lot_id not in by_id]
        if missing:
            raise InvalidInput(
                f"lots not open in this position: {', '.join(missing)}", field="specific_lot_ids"
            )
        if len(set(specific_lot_ids)) != len(specific_lot_ids):
            raise InvalidInput("a lot is named twice", field="specific_lot_ids")
        return [by_id[lot_id] for lot_id in specific_lot_ids]
    if method is LotMethod.TAX_MINIMISING:
        if sale_price is None or sale_date is None:
            raise InvalidInput("tax-minimising lot selection needs the sale price and date")
        price, date = sale_price, sale_date

        def tax_key(lot: TaxLot) -> tuple[object, ...]:
            gain = price - lot.cost_per_share
            term = lot.term_on(date)
            if rates is not None:
                return (gain * rates.rate(term), term is Term.SHORT, *by_date(lot))
            if gain < 0:
                category = 0 if term is Term.SHORT else 1
            else:
                category = 2 if term is Term.LONG else 3
            return (category, gain, *by_date(lot))

        return sorted(lots, key=tax_key)
    raise InvalidInput(f"unknown lot method {method!r}", field="method")


def close_lots(
    lots: Sequence[TaxLot],
    *,
    quantity: Decimal,
    sale_price: Decimal,
    sale_date: dt.date,
    method: LotMethod = LotMethod.FIFO,
    fees: Decimal = ZERO,
    specific_lot_ids: Sequence[str] | None = None,
    rates: TaxRates | None = None,
    sale_id: str = "sale",
    reportable: bool = True,
) -> LotClosing:
    """Close ``quantity`` shares of one position by ``method``: the realised lots and what is left.

    Proceeds ``quantity * sale_price - fees`` (cents) are spread over the closed lots in
    proportion to their quantities by :func:`allocate_cash`; a partly closed lot keeps its id and
    the rest of its basis. Each closed lot is its own Form 8949 row, judged on its own: gains and
    losses within one sale are not netted. Wash sales are a separate step
    (:func:`portfolios.core.tax.wash_sales.find_wash_sales`).

    Parameters
    ----------
    lots
        Open lots of one asset in one account, in the order they were opened.
    quantity
        Shares sold: positive, at most the lots' total.
    sale_price
        Price per share.
    sale_date
        Trade date of the sale.
    method
        Lot selection method; see :func:`order_lots`.
    fees
        Commissions and fees of the sale, taken off the proceeds.
    specific_lot_ids
        The lots to close for :attr:`LotMethod.SPECIFIC`, in order; the last may close partly.
    rates
        Rates for :attr:`LotMethod.TAX_MINIMISING`.
    sale_id
        The sale's identifier; record ids are ``"<sale_id>#<n>"``.
    reportable
        False for IRA and Roth IRA accounts (no Form 8949 row).

    Returns
    -------
    LotClosing
        ``closures`` in closing order, ``remaining`` open lots in their original order.
    """
    require_quantity(quantity)
    require_money(sale_price, name="sale_price", positive=True)
    require_money(fees, name="fees")
    if not lots:
        raise InvalidInput(f"no open lots to sell {quantity} shares from", field="quantity")
    account_id, symbol = lots[0].account_id, lots[0].symbol
    if any(lot.account_id != account_id or lot.symbol != symbol for lot in lots):
        raise InvalidInput("close_lots takes the lots of one asset in one account", field="lots")
    if len({lot.lot_id for lot in lots}) != len(lots):
        raise InvalidInput("two open lots share an id", field="lots")
    held = sum((lot.quantity for lot in lots), ZERO)
    if quantity > held:
        raise InvalidInput(
            f"cannot sell {quantity} {symbol} in account {account_id}: only {held} held",
            field="quantity",
        )
    proceeds = sale_proceeds(quantity, sale_price, fees)
    ordered = order_lots(
        lots,
        method=method,
        sale_price=sale_price,
        sale_date=sale_date,
        rates=rates,
        specific_lot_ids=specific_lot_ids,
    )
    taken: list[tuple[TaxLot, Decimal]] = []
    left = quantity
    for lot in ordered:
        if left == 0:
            break
        take = min(left, lot.quantity)
        taken.append((lot, take))
        left -= take
    if left > 0:
        raise InvalidInput(
            f"the named lots hold {quantity - left} shares, fewer than the {quantity} sold",
            field="specific_lot_ids",
        )
    proceeds_parts = allocate_cash(proceeds, [take for _, take in taken])
    closures: list[RealisedLot] = []
    changed: dict[int, TaxLot | None] = {}
    for number, ((lot, take), part_proceeds) in enumerate(
        zip(taken, proceeds_parts, strict=True), start=1
    ):
        if take == lot.quantity:
            basis, adjustment = lot.cost_basis, lot.wash_sale_adjustment
            changed[id(lot)] = None
        else:
            basis, adjustment = split_lot(lot, take)
            changed[id(lot)] = replace(
                lot,
                quantity=lot.quantity - take,
                cost_basis=lot.cost_basis - basis,
                wash_sale_adjustment=lot.wash_sale_adjustment - adjustment,
            )
        closures.append(
            RealisedLot(
                record_id=f"{sale_id}#{number}",
                sale_id=sale_id,
                lot_id=lot.lot_id,
                acquisition_id=lot.acquisition_id,
                account_id=account_id,
                symbol=symbol,
                quantity=take,
                acquired_on=lot.acquired_on,
                holding_acquired_on=lot.holding_acquired_on,
                sold_on=sale_date,
                proceeds=part_proceeds,
                cost_basis=basis,
                term=lot.term_on(sale_date),
                reportable=reportable,
                basis_reported=lot.basis_reported,
            )
        )
    remaining: list[TaxLot] = []
    for lot in lots:
        if id(lot) not in changed:
            remaining.append(lot)
        else:
            kept = changed[id(lot)]
            if kept is not None:
                remaining.append(kept)
    return LotClosing(closures=tuple(closures), remaining=tuple(remaining))
