"""Wash sales across a household's accounts (IRC section 1091; IRS Publication 550, "Wash Sales").

A loss on a sale in a taxable account is disallowed to the extent that substantially identical
shares are acquired within 30 days before or after the sale (both ends inclusive, 61 days in
all), in any account of the household, IRAs and Roth IRAs included; an intended purchase that
has not filled yet (a pending order) counts as an acquisition too ("...or you acquire a contract
or option to buy substantially identical stock", Publication 550). The rules applied here:

* **Matching.** Each closed lot (Form 8949 row) is judged on its own; gains and losses of one
  sale are not netted. A loss lot is matched to replacement shares in order of acquisition: the
  household's open lots first (earliest trade date first), then pending purchases; a purchase
  after the sale washes it retroactively when it arrives. With fewer replacement shares than
  shares sold, only the matching part of the loss is disallowed: for ``r`` of ``q`` shares,
  ``loss * r / q`` by cumulative rounding, so a fully washed loss is disallowed to the cent.
* **Which shares replace.** Shares of the same symbol, or of a symbol in the same *identity
  group* (staff-maintained: for example VOO and IVV). A *replacement group* (similar, not
  identical) is what harvesting buys instead and never washes. Shares bought in the same purchase
  as the loss lot never replace it. A share replaces only one loss: the part of a lot used as a
  replacement is split off and marked (:attr:`TaxLot.replacement_for`). Acquisitions before the
  sale replace only while still held, that is as open lots; shares bought and sold again before
  the loss sale are not used (this engine's reading of "acquired"; brokers differ).
* **Basis and holding period.** The disallowed loss is added to the replacement shares' basis and
  the sold lot's holding period is tacked on
  (:func:`~portfolios.core.tax.holding.tacked_acquisition_date`).
  The loss row gets code W and the disallowed amount in Form 8949 column (g).
* **IRAs.** A replacement bought in an IRA or Roth IRA still disallows the loss, but the loss is
  *not* added to the IRA shares' basis: it is lost for good (Rev. Rul. 2008-5); such wash sales
  are flagged ``permanent``. Sales in IRAs are never reported and never washed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal

from portfolios.core.errors import InvalidInput
from portfolios.core.money import ZERO
from portfolios.core.tax.accounts import AccountType
from portfolios.core.tax.holding import WASH_SALE_WINDOW_DAYS, tacked_acquisition_date
from portfolios.core.tax.lots import RealisedLot, TaxLot, prorate_cash, split_lot


@dataclass(frozen=True, slots=True)
class PendingPurchase:
    """A purchase the household intends and has not filled yet; it counts as an acquisition.

    ``replacement_quantity_used`` is how many of its shares already replaced a loss.
    """

    order_id: str
    account_id: str
    symbol: str
    quantity: Decimal
    expected_on: dt.date
    replacement_quantity_used: Decimal = ZERO

    def __post_init__(self) -> None:
        if not self.quantity > 0:
            raise InvalidInput(
                f"pending purchase {self.order_id} must have a positive quantity",
                field="quantity",
            )
        if not ZERO <= self.replacement_quantity_used <= self.quantity:
            raise InvalidInput(
                f"pending purchase {self.order_id} used {self.replacement_quantity_used} "
                f"of {self.quantity} shares as replacements",
                field="replacement_quantity_used",
            )

    @property
    def available_quantity(self) -> Decimal:
        """Shares that can still replace a loss."""
        return self.quantity - self.replacement_quantity_used


@dataclass(frozen=True, slots=True)
class WashSale:
    """Part of a loss disallowed because replacement shares were acquired.

    Attributes
    ----------
    record_id, sale_id, account_id, symbol, sold_on
        The realised lot (Form 8949 row) whose loss is disallowed, and its sale.
    sold_lot_acquired_on
        The date that lot's holding period counted from: it is tacked onto the replacement.
    replacement_acquisition_id
        The purchase (or pending order) whose shares replaced the loss.
    replacement_lot_id
        The lot holding those shares, ``None`` while the purchase is pending.
    replacement_account_id, replacement_symbol, replacement_acquired_on
        Where, what and when (the expected date while pending).
    quantity
        Replacement shares matched.
    disallowed_loss
        Loss disallowed, a positive cash amount.
    permanent
        True when the replacement is in an IRA or Roth IRA: the loss is not added to any basis.
    pending
        True while the replacement is a pending purchase.
    """

    record_id: str
    sale_id: str
    account_id: str
    symbol: str
    sold_on: dt.date
    sold_lot_acquired_on: dt.date
    replacement_acquisition_id: str
    replacement_lot_id: str | None
    replacement_account_id: str
    replacement_symbol: str
    replacement_acquired_on: dt.date
    quantity: Decimal
    disallowed_loss: Decimal
    permanent: bool
    pending: bool = False


@dataclass(frozen=True, slots=True)
class WashSaleOutcome:
    """The result of :func:`find_wash_sales`.

    Attributes
    ----------
    lots
        For a sale: all the household's open lots, replacement lots split and adjusted, in the
        given order (a split-off part comes just before the rest of its lot). For a purchase:
        the new lot's parts (split off parts first). For a pending purchase: empty.
    realised
        For a sale: its closures with W adjustments. For a purchase or pending purchase: the given
        realised records, in order, with the losses it washed updated.
    pending_purchases
        The pending purchases with their used replacement quantities updated.
    wash_sales
        The wash sales found, in the order they were matched.
    """

    lots: tuple[TaxLot, ...]
    realised: tuple[RealisedLot, ...]
    pending_purchases: tuple[PendingPurchase, ...]
    wash_sales: tuple[WashSale, ...]


@dataclass(frozen=True, slots=True)
class PendingSettlement:
    """A filled order's lot with the wash sales it settled, and those it could not cover."""

    lots: tuple[TaxLot, ...]
    settled: tuple[WashSale, ...]
    unsettled: tuple[WashSale, ...]


_WINDOW = dt.timedelta(days=WASH_SALE_WINDOW_DAYS)


def identity_key(symbol: str, identity_groups: Mapping[str, str] | None) -> str:
    """The key under which symbols are substantially identical: the identity group or the symbol."""
    group = identity_groups.get(symbol) if identity_groups else None
    return f"group:{group}" if group else f"symbol:{symbol}"


def in_wash_sale_window(acquired_on: dt.date, sold_on: dt.date) -> bool:
    """Whether an acquisition on ``acquired_on`` falls within 30 days either side of ``sold_on``."""
    return abs((acquired_on - sold_on).days) <= WASH_SALE_WINDOW_DAYS


class Household:
    """The facts wash-sale matching needs about a household: account types and identity groups."""

    __slots__ = ("_keys", "account_types", "identity_groups")

    def __init__(
        self,
        account_types: Mapping[str, AccountType],
        identity_groups: Mapping[str, str] | None = None,
    ) -> None:
        self.account_types = account_types
        self.identity_groups = identity_groups or {}
        self._keys: dict[str, str] = {}

    def key(self, symbol: str) -> str:
        """:func:`identity_key` of ``symbol``, cached."""
        found = self._keys.get(symbol)
        if found is None:
            found = self._keys[symbol] = identity_key(symbol, self.identity_groups)
        return found

    def account_type(self, account_id: str) -> AccountType:
        """The type of ``account_id``; an unknown account is an error."""
        try:
            return self.account_types[account_id]
        except KeyError:
            raise InvalidInput(
                f"account {account_id} is not one of the household's accounts", field="account_id"
            ) from None


def _disallowed_increment(record: RealisedLot, quantity: Decimal) -> Decimal:
    """The loss disallowed by ``quantity`` more replacement shares, by cumulative rounding."""
    before = prorate_cash(record.loss, record.washed_quantity, record.quantity)
    after = prorate_cash(record.loss, record.washed_quantity + quantity, record.quantity)
    return after - before


def _replacement_part(
    lot: TaxLot,
    *,
    quantity: Decimal,
    record_id: str,
    disallowed: Decimal,
    permanent: bool,
    sold_lot_acquired_on: dt.date,
    sold_on: dt.date,
) -> tuple[TaxLot, TaxLot | None]:
    """Split ``quantity`` replacement shares off ``lot``, adjusted; return them and the rest."""
    if quantity == lot.quantity:
        basis, adjustment, rest = lot.cost_basis, lot.wash_sale_adjustment, None
        used_id = lot.lot_id
    else:
        basis, adjustment = split_lot(lot, quantity)
        rest = replace(
            lot,
            quantity=lot.quantity - quantity,
            cost_basis=lot.cost_basis - basis,
            wash_sale_adjustment=lot.wash_sale_adjustment - adjustment,
        )
        used_id = f"{lot.lot_id}~{record_id}"
    tacked = lot.tacked_acquired_on
    if not permanent:
        basis += disallowed
        adjustment += disallowed
        start = tacked_acquisition_date(
            replacement_acquired_on=lot.acquired_on,
            sold_lot_acquired_on=sold_lot_acquired_on,
            sold_on=sold_on,
        )
        tacked = start if start != lot.acquired_on else None
    used = replace(
        lot,
        lot_id=used_id,
        quantity=quantity,
        cost_basis=basis,
        wash_sale_adjustment=adjustment,
        tacked_acquired_on=tacked,
        replacement_for=record_id,
    )
    return used, rest


def _wash_with_lot(
    record: RealisedLot, lot: TaxLot, household: Household
) -> tuple[RealisedLot, TaxLot, TaxLot | None, WashSale]:
    """Match as much of ``record``'s unwashed loss as ``lot`` covers."""
    quantity = min(record.unwashed_quantity, lot.quantity)
    disallowed = _disallowed_increment(record, quantity)
    permanent = household.account_type(lot.account_id).is_tax_advantaged
    used, rest = _replacement_part(
        lot,
        quantity=quantity,
        record_id=record.record_id,
        disallowed=disallowed,
        permanent=permanent,
        sold_lot_acquired_on=record.holding_acquired_on,
        sold_on=record.sold_on,
    )
    event = WashSale(
        record_id=record.record_id,
        sale_id=record.sale_id,
        account_id=record.account_id,
        symbol=record.symbol,
        sold_on=record.sold_on,
        sold_lot_acquired_on=record.holding_acquired_on,
        replacement_acquisition_id=lot.acquisition_id,
        replacement_lot_id=used.lot_id,
        replacement_account_id=lot.account_id,
        replacement_symbol=lot.symbol,
        replacement_acquired_on=lot.acquired_on,
        quantity=quantity,
        disallowed_loss=disallowed,
        permanent=permanent,
    )
    washed = replace(
        record,
        washed_quantity=record.washed_quantity + quantity,
        wash_sale_disallowed=record.wash_sale_disallowed + disallowed,
    )
    return washed, used, rest, event


def _wash_with_pending(
    record: RealisedLot, pending: PendingPurchase, household: Household
) -> tuple[RealisedLot, PendingPurchase, WashSale]:
    """Match as much of ``record``'s unwashed loss as ``pending`` still covers."""
    quantity = min(record.unwashed_quantity, pending.available_quantity)
    disallowed = _disallowed_increment(record, quantity)
    event = WashSale(
        record_id=record.record_id,
        sale_id=record.sale_id,
        account_id=record.account_id,
        symbol=record.symbol,
        sold_on=record.sold_on,
        sold_lot_acquired_on=record.holding_acquired_on,
        replacement_acquisition_id=pending.order_id,
        replacement_lot_id=None,
        replacement_account_id=pending.account_id,
        replacement_symbol=pending.symbol,
        replacement_acquired_on=pending.expected_on,
        quantity=quantity,
        disallowed_loss=disallowed,
        permanent=household.account_type(pending.account_id).is_tax_advantaged,
        pending=True,
    )
    washed = replace(
        record,
        washed_quantity=record.washed_quantity + quantity,
        wash_sale_disallowed=record.wash_sale_disallowed + disallowed,
    )
    used = replace(pending, replacement_quantity_used=pending.replacement_quantity_used + quantity)
    return washed, used, event


def _lot_order(lot_id: str) -> tuple[int, str]:
    """Lots in the order they were opened: ids are sequences ("12", "b12"), so a shorter id is
    an earlier one; a lot split by an earlier wash ("12~s3#1") keeps its original's place."""
    base = lot_id.split("~")[0]
    return len(base), lot_id


def _is_washable(record: RealisedLot) -> bool:
    return (
        record.reportable and record.cost_basis > record.proceeds and record.unwashed_quantity > 0
    )


def wash_sale(
    closures: list[RealisedLot],
    lots: list[TaxLot],
    pending: list[PendingPurchase],
    household: Household,
) -> list[WashSale]:
    """Match a new sale's loss lots against held acquisitions, then pending purchases (in place).

    ``closures`` are replaced by their washed versions, ``lots`` (the household's open lots after
    the sale) by the split and adjusted lots, ``pending`` by their updated versions.
    """
    events: list[WashSale] = []
    pending_order = sorted(range(len(pending)), key=lambda i: (pending[i].expected_on, i))
    for position, record in enumerate(closures):
        if not _is_washable(record):
            continue
        key = household.key(record.symbol)
        first = record.sold_on - _WINDOW
        last = record.sold_on + _WINDOW
        while record.unwashed_quantity > 0:
            candidates = [
                index
                for index, lot in enumerate(lots)
                if first <= lot.acquired_on <= last
                and lot.replacement_for is None
                and lot.acquisition_id != record.acquisition_id
                and household.key(lot.symbol) == key
            ]
            if not candidates:
                break
            # The earliest acquisition first; among lots bought the same day, the earlier lot
            # (by id), whatever the order the lots were passed in.
            best = min(candidates, key=lambda i: (lots[i].acquired_on, *_lot_order(lots[i].lot_id)))
            record, used, rest, event = _wash_with_lot(record, lots[best], household)
            lots[best : best + 1] = [used] if rest is None else [used, rest]
            events.append(event)
        for index in pending_order:
            if record.unwashed_quantity == 0:
                break
            order = pending[index]
            if (
                order.available_quantity > 0
                and in_wash_sale_window(order.expected_on, record.sold_on)
                and household.key(order.symbol) == key
            ):
                record, pending[index], event = _wash_with_pending(record, order, household)
                events.append(event)
        closures[position] = record
    return events


def _loss_candidates(
    realised: list[RealisedLot],
    *,
    symbol: str,
    acquired_on: dt.date,
    acquisition_id: str,
    household: Household,
) -> list[int]:
    key = household.key(symbol)
    found = [
        index
        for index, record in enumerate(realised)
        if _is_washable(record)
        and record.acquisition_id != acquisition_id
        and in_wash_sale_window(acquired_on, record.sold_on)
        and household.key(record.symbol) == key
    ]
    found.sort(key=lambda index: (realised[index].sold_on, index))
    return found


def wash_purchase(
    lot: TaxLot, realised: list[RealisedLot], household: Household
) -> tuple[list[TaxLot], list[WashSale]]:
    """Match a new purchase's lot against earlier loss sales (``realised`` updated in place).

    Returns the lot's parts (split off replacement parts first, then the rest) and the wash sales.
    """
    household.account_type(lot.account_id)
    if lot.replacement_for is not None:
        return [lot], []
    parts: list[TaxLot] = []
    events: list[WashSale] = []
    remaining: TaxLot | None = lot
    for index in _loss_candidates(
        realised,
        symbol=lot.symbol,
        acquired_on=lot.acquired_on,
        acquisition_id=lot.acquisition_id,
        household=household,
    ):
        if remaining is None:
            break
        realised[index], used, remaining, event = _wash_with_lot(
            realised[index], remaining, household
        )
        parts.append(used)
        events.append(event)
    if remaining is not None:
        parts.append(remaining)
    return parts, events


def wash_pending_purchase(
    pending: PendingPurchase, realised: list[RealisedLot], household: Household
) -> tuple[PendingPurchase, list[WashSale]]:
    """Match a pending purchase against earlier loss sales (``realised`` updated in place)."""
    household.account_type(pending.account_id)
    events: list[WashSale] = []
    for index in _loss_candidates(
        realised,
        symbol=pending.symbol,
        acquired_on=pending.expected_on,
        acquisition_id=pending.order_id,
        household=household,
    ):
        if pending.available_quantity == 0:
            break
        realised[index], pending, event = _wash_with_pending(realised[index], pending, household)
        events.append(event)
    return pending, events


def find_wash_sales(
    *,
    account_types: Mapping[str, AccountType],
    identity_groups: Mapping[str, str] | None = None,
    household_lots: Sequence[TaxLot] = (),
    realised: Sequence[RealisedLot] = (),
    pending_purchases: Sequence[PendingPurchase] = (),
    sale: Sequence[RealisedLot] | None = None,
    purchase: TaxLot | PendingPurchase | None = None,
) -> WashSaleOutcome:
    """Wash sales caused by one new sale or one new purchase in a household.

    Give exactly one of ``sale`` and ``purchase``:

    * ``sale``: the new sale's closures (from :func:`~portfolios.core.tax.lots.close_lots`). Their
      losses are matched against ``household_lots`` (the household's open lots *after* the sale)
      acquired within 30 days either side, then against ``pending_purchases``.
    * ``purchase``: a new lot (from :func:`~portfolios.core.tax.lots.open_lot`) or a new pending
      purchase. It washes the losses in ``realised`` sold within 30 days either side that are not
      yet fully washed, earliest sale first; the earlier rows get code W and the adjustment.

    Parameters
    ----------
    account_types
        Account id to :class:`AccountType` for every account of the household.
    identity_groups
        Symbol to identity-group name: symbols in one group are substantially identical.
    household_lots
        The household's open lots, all accounts, in the order they were opened.
    realised
        The household's realised lots (at least those of the last 30 days).
    pending_purchases
        The household's pending purchases.
    sale, purchase
        The new event.

    Returns
    -------
    WashSaleOutcome
    """
    if (sale is None) == (purchase is None):
        raise InvalidInput("give exactly one of a sale or a purchase to find wash sales for")
    household = Household(account_types, identity_groups)
    if sale is not None:
        closures = list(sale)
        lots = list(household_lots)
        pending = list(pending_purchases)
        events = wash_sale(closures, lots, pending, household)
        return WashSaleOutcome(
            lots=tuple(lots),
            realised=tuple(closures),
            pending_purchases=tuple(pending),
            wash_sales=tuple(events),
        )
    records = list(realised)
    if isinstance(purchase, TaxLot):
        parts, events = wash_purchase(purchase, records, household)
        return WashSaleOutcome(
            lots=tuple(parts),
            realised=tuple(records),
            pending_purchases=tuple(pending_purchases),
            wash_sales=tuple(events),
        )
    assert purchase is not None
    updated, events = wash_pending_purchase(purchase, records, household)
    others = tuple(p for p in pending_purchases if p.order_id != updated.order_id)
    return WashSaleOutcome(
        lots=(),
        realised=tuple(records),
        pending_purchases=(*others, updated),
        wash_sales=tuple(events),
    )


def settle_pending_wash_sales(
    lot: TaxLot,
    *,
    wash_sales: Sequence[WashSale],
    account_types: Mapping[str, AccountType],
    order_id: str | None = None,
) -> PendingSettlement:
    """Move the wash sales of a pending order onto the lot its fill opened.

    Each pending wash sale of the order (``order_id``, by default the lot's acquisition id) is
    applied in order: its shares are split off the lot, get the disallowed loss in their basis
    (unless the account is an IRA) and the sold lot's holding period. A fill smaller than the
    wash sales leaves the rest ``unsettled``, with their proportional share of the loss; release
    it from the realised rows with :func:`release_pending_wash_sales` if the order will not fill.
    The last part of ``lots``, when not marked as a replacement, is an ordinary new lot: pass it
    to :func:`find_wash_sales` as a purchase like any other fill.
    """
    order = order_id or lot.acquisition_id
    permanent = Household(account_types).account_type(lot.account_id).is_tax_advantaged
    parts: list[TaxLot] = []
    settled: list[WashSale] = []
    unsettled: list[WashSale] = []
    remaining: TaxLot | None = lot if lot.replacement_for is None else None
    for event in wash_sales:
        if not event.pending or event.replacement_acquisition_id != order:
            continue
        if remaining is None:
            unsettled.append(event)
            continue
        quantity = min(event.quantity, remaining.quantity)
        disallowed = prorate_cash(event.disallowed_loss, quantity, event.quantity)
        used, rest = _replacement_part(
            remaining,
            quantity=quantity,
            record_id=event.record_id,
            disallowed=disallowed,
            permanent=permanent,
            sold_lot_acquired_on=event.sold_lot_acquired_on,
            sold_on=event.sold_on,
        )
        parts.append(used)
        remaining = rest
        settled.append(
            replace(
                event,
                pending=False,
                replacement_lot_id=used.lot_id,
                replacement_account_id=lot.account_id,
                replacement_symbol=lot.symbol,
                replacement_acquired_on=lot.acquired_on,
                quantity=quantity,
                disallowed_loss=disallowed,
                permanent=permanent,
            )
        )
        if quantity < event.quantity:
            unsettled.append(
                replace(
                    event,
                    quantity=event.quantity - quantity,
                    disallowed_loss=event.disallowed_loss - disallowed,
                )
            )
    if remaining is not None:
        parts.append(remaining)
    return PendingSettlement(lots=tuple(parts), settled=tuple(settled), unsettled=tuple(unsettled))


def release_pending_wash_sales(
    realised: Sequence[RealisedLot], *, wash_sales: Sequence[WashSale]
) -> tuple[RealisedLot, ...]:
    """Undo pending wash sales whose order will not fill: the loss rows get their loss back."""
    by_id = {record.record_id: index for index, record in enumerate(realised)}
    records = list(realised)
    for event in wash_sales:
        if not event.pending:
            raise InvalidInput(
                f"wash sale of {event.record_id} is settled, not pending", field="wash_sales"
            )
        index = by_id.get(event.record_id)
        if index is None:
            raise InvalidInput(f"no realised lot {event.record_id}", field="wash_sales")
        record = records[index]
        quantity = record.washed_quantity - event.quantity
        disallowed = record.wash_sale_disallowed - event.disallowed_loss
        if quantity < 0 or disallowed < 0:
            raise InvalidInput(
                f"wash sale of {event.record_id} releases more than was disallowed",
                field="wash_sales",
            )
        records[index] = replace(record, washed_quantity=quantity, wash_sale_disallowed=disallowed)
    return tuple(records)
