"""Replay a household's trades into open lots, Form 8949 rows and wash sales.

:func:`replay_household` is the whole tax engine as one pure function: it applies each buy
(:func:`~portfolios.core.tax.lots.open_lot`, then the wash sales the purchase causes
retroactively) and each sell (:func:`~portfolios.core.tax.lots.close_lots` by the account's
method, then the wash sales of its losses) in trade-date order, and finally lets the pending
purchases wash what is left. The live system applies the same steps one fill at a time through
:func:`~portfolios.core.tax.wash_sales.find_wash_sales`; both give the same books.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from portfolios.core.errors import InvalidInput
from portfolios.core.money import ZERO
from portfolios.core.tax.accounts import AccountType, TaxRates
from portfolios.core.tax.basis_reporting import basis_reported_by_date
from portfolios.core.tax.lots import (
    LotMethod,
    RealisedLot,
    TaxLot,
    close_lots,
    open_lot,
    require_money,
    require_quantity,
)
from portfolios.core.tax.wash_sales import (
    Household,
    PendingPurchase,
    WashSale,
    wash_pending_purchase,
    wash_purchase,
    wash_sale,
)


@dataclass(frozen=True, slots=True)
class AccountSpec:
    """An account of the household: its tax type and its default lot selection method."""

    account_id: str
    account_type: AccountType = AccountType.TAXABLE
    lot_method: LotMethod = LotMethod.FIFO


@dataclass(frozen=True, slots=True)
class Buy:
    """A filled purchase: opens a lot with basis ``quantity * price + fees``.

    ``basis_reported`` says whether the broker reports the lot's basis to the IRS (a covered
    security, which decides the Form 8949 box of its sales); ``None`` decides it by the trade
    date: stock from 2011, fund shares from 2012 (see :func:`replay_household`'s ``stocks``).
    """

    transaction_id: str
    account_id: str
    symbol: str
    trade_date: dt.date
    quantity: Decimal
    price: Decimal
    fees: Decimal = ZERO
    basis_reported: bool | None = None


@dataclass(frozen=True, slots=True)
class Sell:
    """A filled sale: closes lots by ``method`` (the account's default when ``None``).

    ``specific_lot_ids`` names the lots for :attr:`LotMethod.SPECIFIC`, in order.
    """

    transaction_id: str
    account_id: str
    symbol: str
    trade_date: dt.date
    quantity: Decimal
    price: Decimal
    fees: Decimal = ZERO
    method: LotMethod | None = None
    specific_lot_ids: tuple[str, ...] = ()


Transaction = Buy | Sell


@dataclass(frozen=True, slots=True)
class HouseholdLedger:
    """The tax books of a household after a replay.

    Attributes
    ----------
    open_lots
        Open lots of every account, in the order they were opened (split parts together).
    realised
        Every closed lot in sale order: the Form 8949 rows (filter ``reportable``).
    wash_sales
        Every wash sale, in the order found.
    pending_purchases
        The pending purchases, with the replacement shares they have used.
    """

    open_lots: tuple[TaxLot, ...]
    realised: tuple[RealisedLot, ...]
    wash_sales: tuple[WashSale, ...]
    pending_purchases: tuple[PendingPurchase, ...]

    def lots_of(self, account_id: str, symbol: str) -> tuple[TaxLot, ...]:
        """The open lots of one asset in one account."""
        return tuple(
            lot for lot in self.open_lots if lot.account_id == account_id and lot.symbol == symbol
        )

    def position(self, account_id: str, symbol: str) -> Decimal:
        """Shares of ``symbol`` held in ``account_id``: the sum of its open lots."""
        return sum((lot.quantity for lot in self.lots_of(account_id, symbol)), ZERO)


def replay_household(
    transactions: Sequence[Transaction],
    *,
    accounts: Sequence[AccountSpec],
    identity_groups: Mapping[str, str] | None = None,
    pending_purchases: Sequence[PendingPurchase] = (),
    rates: TaxRates | None = None,
    stocks: Collection[str] = frozenset(),
) -> HouseholdLedger:
    """Replay a household's buys and sells, all accounts together, into its tax books.

    Parameters
    ----------
    transactions
        Filled buys and sells of every account; applied in trade-date order, and in the given
        order within a day (a stable sort). Transaction ids must be unique: lots and Form 8949
        rows are named after them.
    accounts
        Every account that appears, with its type and default lot method.
    identity_groups
        Symbol to identity-group name (substantially identical symbols).
    pending_purchases
        Purchases not filled yet: acquisitions after all the transactions, for wash sales.
    rates
        The client's rates, used by the tax-minimising method.
    stocks
        Symbols that are stock rather than fund shares: covered from 2011 rather than 2012 when
        a buy leaves ``basis_reported`` to its date.

    Returns
    -------
    HouseholdLedger
    """
    specs = {spec.account_id: spec for spec in accounts}
    if len(specs) != len(accounts):
        raise InvalidInput("an account is listed twice", field="accounts")
    ids = [txn.transaction_id for txn in transactions]
    if len(set(ids)) != len(ids):
        raise InvalidInput("transaction ids must be unique", field="transactions")
    household = Household(
        {spec.account_id: spec.account_type for spec in accounts}, identity_groups
    )
    lots: list[TaxLot] = []
    realised: list[RealisedLot] = []
    events: list[WashSale] = []
    no_pending: list[PendingPurchase] = []
    for txn in sorted(transactions, key=lambda txn: txn.trade_date):
        spec = specs.get(txn.account_id)
        if spec is None:
            raise InvalidInput(
                f"transaction {txn.transaction_id} is in unknown account {txn.account_id}",
                field="account_id",
            )
        if isinstance(txn, Buy):
            lot = open_lot(
                lot_id=txn.transaction_id,
                account_id=txn.account_id,
                symbol=txn.symbol,
                quantity=txn.quantity,
                price=txn.price,
                acquired_on=txn.trade_date,
                fees=txn.fees,
                basis_reported=(
                    basis_reported_by_date(txn.trade_date, fund=txn.symbol not in stocks)
                    if txn.basis_reported is None
                    else txn.basis_reported
                ),
            )
            parts, found = wash_purchase(lot, realised, household)
            lots.extend(parts)
            events.extend(found)
            continue
        require_quantity(txn.quantity)
        require_money(txn.price, name="price", positive=True)
        position = [
            lot for lot in lots if lot.account_id == txn.account_id and lot.symbol == txn.symbol
        ]
        held = sum((lot.quantity for lot in position), ZERO)
        if txn.quantity > held:
            raise InvalidInput(
                f"sale {txn.transaction_id} sells {txn.quantity} {txn.symbol} in account "
                f"{txn.account_id} on {txn.trade_date}, but only {held} are held",
                field="quantity",
            )
        closing = close_lots(
            position,
            quantity=txn.quantity,
            sale_price=txn.price,
            sale_date=txn.trade_date,
            method=txn.method or spec.lot_method,
            fees=txn.fees,
            specific_lot_ids=txn.specific_lot_ids or None,
            rates=rates,
            sale_id=txn.transaction_id,
            reportable=not spec.account_type.is_tax_advantaged,
        )
        remaining = {lot.lot_id: lot for lot in closing.remaining}
        kept: list[TaxLot] = []
        for lot in lots:
            if lot.account_id != txn.account_id or lot.symbol != txn.symbol:
                kept.append(lot)
            elif lot.lot_id in remaining:
                kept.append(remaining[lot.lot_id])
        lots = kept
        closures = list(closing.closures)
        events.extend(wash_sale(closures, lots, no_pending, household))
        realised.extend(closures)
    pending = list(pending_purchases)
    for index in sorted(range(len(pending)), key=lambda i: (pending[i].expected_on, i)):
        pending[index], found = wash_pending_purchase(pending[index], realised, household)
        events.extend(found)
    return HouseholdLedger(
        open_lots=tuple(lots),
        realised=tuple(realised),
        wash_sales=tuple(events),
        pending_purchases=tuple(pending),
    )
