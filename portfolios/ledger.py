"""The ledger: each trade updates cash, lots, positions and the tax books in one transaction.

A buy opens a lot (and may wash earlier losses of the household retroactively); a sell closes
lots by the account's method into Form 8949 rows (whose losses may be washed by shares the
household holds or has on order). The rules are the tax engine's (``portfolios.core.tax``); this
module loads the household's books, lets the engine decide, and writes back what changed.

Concurrency: the household row is locked first (wash sales cross its accounts), then the account;
``external_id`` (a broker execution id, an imported row) makes replaying a trade a no-op.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import F, Q, QuerySet

from portfolios.core import tax
from portfolios.core.errors import InvalidInput
from portfolios.core.money import ZERO, to_decimal
from portfolios.core.money import quantity as to_quantity
from portfolios.core.tax.lots import purchase_cost, sale_proceeds
from portfolios.core.tax.wash_sales import PendingPurchase, settle_pending_wash_sales
from portfolios.core.tax.wash_sales import WashSale as CoreWashSale
from portfolios.live import household_group, publish_on_commit
from portfolios.models import (
    Account,
    AccountType,
    Asset,
    Household,
    LotMethod,
    RealizedLot,
    TaxLot,
    Transaction,
    TransactionKind,
    WashSale,
)
from portfolios.prepared import prepared_read
from portfolios.services import basis_reported_by_type, position_sync

_ACCOUNT_TYPES = {
    AccountType.TAXABLE: tax.AccountType.TAXABLE,
    AccountType.IRA: tax.AccountType.IRA,
    AccountType.ROTH: tax.AccountType.ROTH_IRA,
}
_LOT_METHODS = {
    LotMethod.FIFO: tax.LotMethod.FIFO,
    LotMethod.HIFO: tax.LotMethod.HIFO,
    LotMethod.SPECIFIC: tax.LotMethod.SPECIFIC,
    LotMethod.TAX_MIN: tax.LotMethod.TAX_MINIMISING,
}
_WINDOW = dt.timedelta(days=tax.WASH_SALE_WINDOW_DAYS)
_NEW_LOT = "new"


@dataclass(frozen=True)
class PendingOrder:
    """A buy order of the household not filled yet; it counts as an acquisition for wash sales."""

    order_ref: str
    account_id: int
    symbol: str
    quantity: Decimal
    expected_on: dt.date


@dataclass(frozen=True)
class TradeResult:
    transaction: Transaction
    created: bool
    realized: tuple[RealizedLot, ...] = ()
    wash_sales: tuple[WashSale, ...] = ()
    lots: tuple[TaxLot, ...] = ()


def account_tax_type(account_type: str) -> tax.AccountType:
    return _ACCOUNT_TYPES[AccountType(account_type)]


def lot_method(method: str) -> tax.LotMethod:
    return _LOT_METHODS[LotMethod(method)]


@prepared_read
def _grouped_assets() -> QuerySet[Asset, Any]:
    return Asset.objects.exclude(identity_group="").values_list("symbol", "identity_group")


@prepared_read
def _open_lots(household_id: int) -> QuerySet[TaxLot]:
    return (
        TaxLot.objects.filter(account__household_id=household_id, quantity__gt=0)
        .annotate(asset_symbol=F("asset__symbol"))
        .order_by("id")
    )


@prepared_read
def _recent_losses(household_id: int, first: dt.date, last: dt.date) -> QuerySet[RealizedLot]:
    return (
        RealizedLot.objects.filter(
            account__household_id=household_id,
            reportable=True,
            sold_on__gte=first,
            sold_on__lte=last,
            washed_quantity__lt=F("quantity"),
            cost_basis__gt=F("proceeds"),
        )
        .annotate(asset_symbol=F("asset__symbol"))
        .order_by("sold_on", "id")
    )


@prepared_read
def _promised_replacements(household_id: int) -> QuerySet[WashSale, Any]:
    return WashSale.objects.filter(
        pending=True, replacement_account__household_id=household_id
    ).values_list("replacement_order", "quantity")


@prepared_read
def _pending_wash_sales_of(acquisition: str) -> QuerySet[WashSale]:
    return WashSale.objects.filter(pending=True, replacement_order=acquisition).select_related(
        "realized_lot"
    )


@prepared_read
def _households_of(account_ids: list[int]) -> QuerySet[Account, Any]:
    return Account.objects.filter(pk__in=account_ids).values_list("household_id", flat=True)


@prepared_read
def _households_locked(household_ids: list[int]) -> QuerySet[Household]:
    return Household.objects.select_for_update().filter(pk__in=household_ids).order_by("pk")


@prepared_read
def _account_kinds(household_ids: list[int]) -> QuerySet[Account, Any]:
    return Account.objects.filter(household_id__in=household_ids).values_list(
        "household_id", "pk", "account_type"
    )


@prepared_read
def _accounts_locked(account_ids: list[int]) -> QuerySet[Account]:
    return Account.objects.select_for_update().filter(pk__in=account_ids).order_by("pk")


@prepared_read
def _transaction_with(external_id: str) -> QuerySet[Transaction]:
    return Transaction.objects.filter(external_id=external_id)[:1]


def identity_groups() -> dict[str, str]:
    """Symbol to identity group, for the assets staff have grouped."""
    return dict(_grouped_assets())


def household_rates(household: Household) -> tax.TaxRates:
    return tax.TaxRates(short_term=household.short_term_rate, long_term=household.long_term_rate)


def core_lot(row: TaxLot, symbol: str) -> tax.TaxLot:
    """A database lot as the tax engine's lot (ids as strings)."""
    return tax.TaxLot(
        lot_id=str(row.pk),
        account_id=str(row.account_id),
        symbol=symbol,
        quantity=row.quantity,
        cost_basis=row.cost_basis,
        acquired_on=row.acquired_on,
        tacked_acquired_on=row.holding_period_start
        if row.holding_period_start != row.acquired_on
        else None,
        acquisition_id=row.acquisition_id,
        wash_sale_adjustment=row.wash_sale_adjustment,
        replacement_for=str(row.replacement_for_id) if row.replacement_for_id else None,
        basis_reported=row.basis_reported,
    )


def core_realized(row: RealizedLot, symbol: str) -> tax.RealisedLot:
    return tax.RealisedLot(
        record_id=str(row.pk),
        sale_id=f"t{row.sale_id}",
        lot_id=str(row.lot_id),
        acquisition_id=row.acquisition_id,
        account_id=str(row.account_id),
        symbol=symbol,
        quantity=row.quantity,
        acquired_on=row.acquired_on,
        holding_acquired_on=row.holding_period_start,
        sold_on=row.sold_on,
        proceeds=row.proceeds,
        cost_basis=row.cost_basis,
        term=tax.Term(row.term),
        reportable=row.reportable,
        wash_sale_disallowed=row.adjustment_amount,
        washed_quantity=row.washed_quantity,
        basis_reported=row.basis_reported,
    )


class _Books:
    """The household's books as the tax engine sees them, and the way back to the database.

    The open lots (which a sale needs) and the recent realised losses (which a purchase may
    wash) are each read on first use: a purchase never reads the household's lots.
    """

    def __init__(
        self,
        household: Household,
        *,
        around: dt.date,
        account_types: dict[str, tax.AccountType],
        groups: dict[str, str],
    ) -> None:
        self.household = household
        self.account_types = account_types
        self.identity_groups = groups
        self.around = around
        self.symbol_ids: dict[str, int] = {}
        #: The symbol of each asset id of the lots and realised losses read.
        self.symbols: dict[int, str] = {}

    @functools.cached_property
    def lot_rows(self) -> dict[str, TaxLot]:
        # the symbol as one more column: the lots' assets are not built as rows
        rows = _open_lots(self.household.pk)
        for r in rows:
            self.symbol_ids.setdefault(r.asset_symbol, r.asset_id)
            self.symbols[r.asset_id] = r.asset_symbol
        return {str(r.pk): r for r in rows}

    @functools.cached_property
    def lots(self) -> list[tax.TaxLot]:
        return [core_lot(r, self.symbols[r.asset_id]) for r in self.lot_rows.values()]

    @functools.cached_property
    def realised_rows(self) -> dict[str, RealizedLot]:
        rows = _recent_losses(self.household.pk, self.around - _WINDOW, self.around + _WINDOW)
        for r in rows:
            self.symbols[r.asset_id] = r.asset_symbol
        return {str(r.pk): r for r in rows}

    @functools.cached_property
    def realised(self) -> list[tax.RealisedLot]:
        return [core_realized(r, self.symbols[r.asset_id]) for r in self.realised_rows.values()]

    def lot_row(self, lot_id: str) -> TaxLot | None:
        """The stored lot of an engine lot id; a lot the trade is opening has none (and needs
        no read of the household's lots to say so)."""
        if lot_id.split("~")[0] == _NEW_LOT:
            return None
        return self.lot_rows.get(lot_id)

    def asset_id(self, symbol: str) -> int:
        if symbol not in self.symbol_ids:
            self.symbol_ids[symbol] = Asset.objects.values_list("pk", flat=True).get(symbol=symbol)
        return self.symbol_ids[symbol]

    def pending_purchases(self, orders: Iterable[PendingOrder]) -> list[PendingPurchase]:
        """Pending orders, with the shares already promised to earlier losses taken off."""
        used: dict[str, Decimal] = {}
        for ref, qty in _promised_replacements(self.household.pk):
            used[ref] = used.get(ref, ZERO) + qty
        result = []
        for order in orders:
            # an order in several live slices: what is promised is taken off them in turn, once
            already = min(used.get(order.order_ref, ZERO), order.quantity)
            used[order.order_ref] = used.get(order.order_ref, ZERO) - already
            result.append(
                PendingPurchase(
                    order_id=order.order_ref,
                    account_id=str(order.account_id),
                    symbol=order.symbol,
                    quantity=order.quantity,
                    expected_on=order.expected_on,
                    replacement_quantity_used=already,
                )
            )
        return result

    def save_lots(
        self,
        after: Sequence[tax.TaxLot],
        *,
        scope: set[str],
        record_pks: dict[str, int],
        opened_by: Transaction,
        closed_on: dt.date,
    ) -> dict[str, TaxLot]:
        """Write the engine's lots back; lots of ``scope`` (existing ids) not in ``after`` closed.

        Returns the database lot for every engine lot id in ``after``.
        """
        saved: dict[str, TaxLot] = {}
        seen: set[str] = set()
        for lot in after:
            start = lot.tacked_acquired_on or lot.acquired_on
            replacement = lot.replacement_for
            replacement_pk = record_pks.get(replacement) if replacement else None
            if replacement and replacement_pk is None:
                replacement_pk = int(replacement)
            row = self.lot_row(lot.lot_id)
            if row is not None:
                seen.add(lot.lot_id)
                changed = (
                    row.quantity != lot.quantity
                    or row.cost_basis != lot.cost_basis
                    or row.wash_sale_adjustment != lot.wash_sale_adjustment
                    or row.holding_period_start != start
                    or row.replacement_for_id != replacement_pk
                )
                if changed:
                    row.quantity = lot.quantity
                    row.cost_basis = lot.cost_basis
                    row.wash_sale_adjustment = lot.wash_sale_adjustment
                    row.holding_period_start = start
                    row.replacement_for_id = replacement_pk
                    row.save(
                        update_fields=[
                            "quantity",
                            "cost_basis",
                            "wash_sale_adjustment",
                            "holding_period_start",
                            "replacement_for",
                        ]
                    )
                saved[lot.lot_id] = row
                continue
            base = self.lot_row(lot.lot_id.split("~")[0])
            row = TaxLot.objects.create(
                account_id=int(lot.account_id),
                asset_id=self.asset_id(lot.symbol),
                quantity=lot.quantity,
                original_quantity=lot.quantity,
                cost_basis=lot.cost_basis,
                acquired_on=lot.acquired_on,
                holding_period_start=start,
                wash_sale_adjustment=lot.wash_sale_adjustment,
                acquisition_id=lot.acquisition_id,
                replacement_for_id=replacement_pk,
                basis_reported=lot.basis_reported,
                # a split keeps the lot's opening transaction (its id: no read of that row)
                opened_by_id=base.opened_by_id if base is not None else opened_by.pk,
            )
            saved[lot.lot_id] = row
        for lot_id in scope - seen:
            row = self.lot_rows[lot_id]
            row.quantity = ZERO
            row.cost_basis = ZERO
            row.closed_on = closed_on
            row.save(update_fields=["quantity", "cost_basis", "closed_on"])
        return saved

    def save_realised(self, records: Sequence[tax.RealisedLot]) -> None:
        """Update existing realised rows that a purchase washed."""
        for record in records:
            row = self.realised_rows.get(record.record_id)
            if row is None:
                continue
            if (
                row.adjustment_amount == record.wash_sale_disallowed
                and row.washed_quantity == record.washed_quantity
            ):
                continue
            row.adjustment_amount = record.wash_sale_disallowed
            row.adjustment_code = record.adjustment_code
            row.washed_quantity = record.washed_quantity
            row.gain = record.gain_or_loss
            row.save(
                update_fields=["adjustment_amount", "adjustment_code", "washed_quantity", "gain"]
            )

    def save_wash_sales(
        self,
        events: Sequence[CoreWashSale],
        *,
        record_pks: dict[str, int],
        lots: dict[str, TaxLot],
    ) -> list[WashSale]:
        rows = []
        for event in events:
            record_pk = record_pks.get(event.record_id) or int(event.record_id)
            lot = lots.get(event.replacement_lot_id) if event.replacement_lot_id else None
            rows.append(
                WashSale(
                    realized_lot_id=record_pk,
                    replacement_lot=lot,
                    replacement_account_id=int(event.replacement_account_id),
                    replacement_symbol=event.replacement_symbol,
                    replacement_order=event.replacement_acquisition_id if event.pending else "",
                    replacement_acquired_on=event.replacement_acquired_on,
                    quantity=event.quantity,
                    disallowed_loss=event.disallowed_loss,
                    permanent=event.permanent,
                    pending=event.pending,
                )
            )
        return WashSale.objects.bulk_create(rows)


#: The trade dates the ledger holds: older dates are typos, and the wash-sale windows and holding
#: periods around a date must stay within what ``datetime.date`` can represent.
EARLIEST_TRADE_DATE = dt.date(1900, 1, 1)
LATEST_TRADE_DATE = dt.date(9998, 12, 31)


def _validate(
    quantity: Decimal, price: Decimal, fees: Decimal, *, trade_date: dt.date
) -> tuple[Decimal, Decimal, Decimal]:
    if not EARLIEST_TRADE_DATE <= trade_date <= LATEST_TRADE_DATE:
        raise InvalidInput(
            f"trade_date {trade_date} is outside {EARLIEST_TRADE_DATE} to {LATEST_TRADE_DATE}",
            field="trade_date",
        )
    qty = to_quantity(quantity)
    if qty <= 0:
        raise InvalidInput(f"quantity must be positive, got {quantity}", field="quantity")
    px = to_decimal(price, name="price")
    if px <= 0:
        raise InvalidInput(f"price must be positive, got {price}", field="price")
    fee = to_decimal(fees, name="fees")
    if fee < 0:
        raise InvalidInput(f"fees must not be negative, got {fees}", field="fees")
    return qty, px, fee


def trade_apply(
    *,
    account_id: int,
    symbol: str,
    side: str,
    quantity: Decimal,
    price: Decimal,
    trade_date: dt.date,
    fees: Decimal = ZERO,
    executed_at: dt.datetime | None = None,
    external_id: str | None = None,
    acquisition_id: str | None = None,
    specific_lot_ids: Sequence[int] | None = None,
    pending_orders: Sequence[PendingOrder] = (),
    description: str = "",
) -> TradeResult:
    """Apply one filled trade to the ledger; replaying the same ``external_id`` changes nothing.

    Parameters
    ----------
    account_id, symbol, side
        Where, what, and ``"buy"`` or ``"sell"``.
    quantity, price, fees
        Shares (9 places), price per share, commissions (part of a buy's basis, taken off a
        sale's proceeds).
    trade_date
        The trade date that decides holding periods and wash-sale windows.
    external_id
        The idempotency key: a broker execution id or an imported row's id.
    acquisition_id
        For a buy, the order it fills (so pending wash sales promised to that order settle on
        its lot); defaults to the transaction.
    specific_lot_ids
        For a sale by specific identification: the lots to close, in order.
    pending_orders
        The household's other unfilled buy orders (they can wash a loss of this sale).
    """
    with transaction.atomic():
        session = LedgerSession()
        result = session.trade(
            account_id=account_id,
            symbol=symbol,
            side=side,
            quantity=quantity,
            price=price,
            trade_date=trade_date,
            fees=fees,
            executed_at=executed_at,
            external_id=external_id,
            acquisition_id=acquisition_id,
            specific_lot_ids=specific_lot_ids,
            pending_orders=pending_orders,
            description=description,
        )
        session.close()
    return result


class LedgerSession:
    """Several trades in one database transaction, as a batch of broker fills books them.

    Each household is locked once and each account once (household first, as everywhere); the
    household's account types, the identity groups and the assets are read once; the positions
    the trades touched are re-summed once, in :meth:`close`, which must run before the
    transaction commits. The lots and realised losses are read afresh for every trade, so each
    trade sees the ones before it. An account's cash is kept current in memory, added to only
    once a trade has succeeded: a trade refused inside a savepoint leaves it as the rollback
    leaves the row.
    """

    def __init__(self, *, assets: Iterable[Asset] = ()) -> None:
        self._households: dict[int, Household] = {}
        self._account_types: dict[int, dict[str, tax.AccountType]] = {}
        self._accounts: dict[int, Account] = {}
        self._groups: dict[str, str] | None = None
        self._assets: dict[str, Asset] = {a.symbol: a for a in assets}
        self._touched: dict[int, set[int]] = {}

    def lock(self, account_ids: Iterable[int]) -> None:
        """Lock the households of these accounts (in id order), then the accounts (in id order),
        before any trade. Call it outside the savepoints the trades run in: a lock first taken
        inside a savepoint that is rolled back is lost, and batches that lock in one order
        cannot deadlock on each other."""
        ids = sorted(set(account_ids) - set(self._accounts))
        if not ids:
            return
        households = sorted(set(_households_of(ids)) - set(self._households))
        for household in _households_locked(households):
            self._households[household.pk] = household
        for household_id, pk, kind in _account_kinds(households):
            self._account_types.setdefault(household_id, {})[str(pk)] = account_tax_type(kind)
        for account in _accounts_locked(ids):
            self._accounts[account.pk] = account

    def identity_groups(self) -> dict[str, str]:
        """Symbol to identity group (:func:`identity_groups`), read once for the session."""
        if self._groups is None:
            self._groups = identity_groups()
        return self._groups

    def _asset(self, symbol: str) -> Asset:
        if symbol not in self._assets:
            asset = Asset.objects.filter(symbol=symbol).first()
            if asset is None:
                raise InvalidInput(f"unknown symbol {symbol}", field="symbol")
            self._assets[symbol] = asset
        return self._assets[symbol]

    def trade(
        self,
        *,
        account_id: int,
        symbol: str,
        side: str,
        quantity: Decimal,
        price: Decimal,
        trade_date: dt.date,
        fees: Decimal = ZERO,
        executed_at: dt.datetime | None = None,
        external_id: str | None = None,
        acquisition_id: str | None = None,
        specific_lot_ids: Sequence[int] | None = None,
        pending_orders: Sequence[PendingOrder] = (),
        description: str = "",
    ) -> TradeResult:
        """:func:`trade_apply`'s trade, inside the session's transaction."""
        if side not in ("buy", "sell"):
            raise InvalidInput(f"side must be 'buy' or 'sell', not {side!r}", field="side")
        qty, px, fee = _validate(quantity, price, fees, trade_date=trade_date)
        self.lock([account_id])  # a no-op for an account locked before
        account = self._accounts.get(account_id)
        if account is None:
            raise InvalidInput(f"no account {account_id}", field="account")
        if external_id:
            existing = _transaction_with(external_id)
            if existing:
                return TradeResult(transaction=existing[0], created=False)
        household = self._households[account.household_id]
        asset = self._asset(symbol)
        books = _Books(
            household,
            around=trade_date,
            account_types=self._account_types[household.pk],
            groups=self.identity_groups(),
        )
        books.symbol_ids.setdefault(asset.symbol, asset.pk)
        if side == "buy":
            result = _buy(
                books,
                account,
                asset,
                qty,
                px,
                fee,
                trade_date,
                executed_at,
                external_id,
                acquisition_id,
                description,
            )
        else:
            result = _sell(
                books,
                account,
                asset,
                qty,
                px,
                fee,
                trade_date,
                executed_at,
                external_id,
                specific_lot_ids,
                pending_orders,
                description,
            )
        account.cash += result.transaction.amount  # as the row now holds
        self._touched.setdefault(account.pk, set()).add(asset.pk)
        publish_on_commit(
            groups=[household_group(household.pk)],
            event="position.changed",
            payload={"account": account.pk, "symbol": symbol, "side": side, "quantity": str(qty)},
        )
        return result

    def close(self) -> None:
        """Re-sum the positions the trades touched (the ledger's invariant)."""
        for account_id, asset_ids in self._touched.items():
            position_sync(account_id=account_id, asset_ids=sorted(asset_ids))
        self._touched.clear()


def _buy(
    books: _Books,
    account: Account,
    asset: Asset,
    qty: Decimal,
    px: Decimal,
    fee: Decimal,
    trade_date: dt.date,
    executed_at: dt.datetime | None,
    external_id: str | None,
    acquisition_id: str | None,
    description: str,
) -> TradeResult:
    cost = purchase_cost(qty, px, fee)
    if cost > account.cash:
        raise InvalidInput(
            f"buying {qty.normalize()} {asset.symbol} costs {cost}, more than the {account.cash} cash "
            f"in {account.name} (no margin)",
            field="quantity",
        )
    txn = Transaction.objects.create(
        account=account,
        kind=TransactionKind.BUY,
        asset=asset,
        trade_date=trade_date,
        executed_at=executed_at,
        quantity=qty,
        price=px,
        fees=fee,
        amount=-cost,
        external_id=external_id,
        description=description or f"Buy {qty.normalize()} {asset.symbol}",
    )
    Account.objects.filter(pk=account.pk).update(cash=F("cash") - cost)
    acquisition = acquisition_id or f"t{txn.pk}"
    lot = replace(
        tax.open_lot(
            lot_id=_NEW_LOT,
            account_id=str(account.pk),
            symbol=asset.symbol,
            quantity=qty,
            price=px,
            acquired_on=trade_date,
            fees=fee,
            basis_reported=basis_reported_by_type(asset, trade_date),
        ),
        acquisition_id=acquisition,
    )
    parts: list[tax.TaxLot] = [lot]
    settled: list[CoreWashSale] = []
    pending_rows = _pending_wash_sales_of(acquisition)
    if pending_rows:
        events = [_pending_event(row, asset.symbol) for row in pending_rows]
        settlement = settle_pending_wash_sales(
            lot, wash_sales=events, account_types=books.account_types, order_id=acquisition
        )
        parts = list(settlement.lots)
        settled = list(settlement.settled)
    outcome_events: list[CoreWashSale] = []
    if parts and parts[-1].replacement_for is None:
        outcome = tax.find_wash_sales(
            account_types=books.account_types,
            identity_groups=books.identity_groups,
            realised=books.realised,
            purchase=parts[-1],
        )
        parts = [*parts[:-1], *outcome.lots]
        books.save_realised(outcome.realised)
        outcome_events = list(outcome.wash_sales)
    saved = books.save_lots(parts, scope=set(), record_pks={}, opened_by=txn, closed_on=trade_date)
    # Settle the pending wash sales this fill covered: they now point at real lots. A wash sale
    # the fill covered in part keeps its remainder pending on the order, for a later slice's fill
    # to settle or for a cancellation to release; rows the fill did not reach stay as they were.
    remainders = []
    for row, event in zip(pending_rows, settled, strict=False):
        if event.quantity < row.quantity:
            remainders.append(
                WashSale(
                    realized_lot_id=row.realized_lot_id,
                    replacement_account_id=row.replacement_account_id,
                    replacement_symbol=row.replacement_symbol,
                    replacement_order=row.replacement_order,
                    replacement_acquired_on=row.replacement_acquired_on,
                    quantity=row.quantity - event.quantity,
                    disallowed_loss=row.disallowed_loss - event.disallowed_loss,
                    permanent=row.permanent,
                    pending=True,
                )
            )
        row.pending = False
        row.replacement_lot = saved.get(event.replacement_lot_id or "")
        row.quantity = event.quantity
        row.disallowed_loss = event.disallowed_loss
        row.replacement_acquired_on = event.replacement_acquired_on
        row.save(
            update_fields=[
                "pending",
                "replacement_lot",
                "quantity",
                "disallowed_loss",
                "replacement_acquired_on",
            ]
        )
    if remainders:
        WashSale.objects.bulk_create(remainders)
    washes = books.save_wash_sales(outcome_events, record_pks={}, lots=saved)
    return TradeResult(
        transaction=txn, created=True, wash_sales=tuple(washes), lots=tuple(saved.values())
    )


def _pending_event(row: WashSale, symbol: str) -> CoreWashSale:
    record = row.realized_lot
    return CoreWashSale(
        record_id=str(record.pk),
        sale_id=f"t{record.sale_id}",
        account_id=str(record.account_id),
        symbol=symbol,
        sold_on=record.sold_on,
        sold_lot_acquired_on=record.holding_period_start,
        replacement_acquisition_id=row.replacement_order,
        replacement_lot_id=None,
        replacement_account_id=str(row.replacement_account_id),
        replacement_symbol=row.replacement_symbol,
        replacement_acquired_on=row.replacement_acquired_on,
        quantity=row.quantity,
        disallowed_loss=row.disallowed_loss,
        permanent=row.permanent,
        pending=True,
    )


def _sell(
    books: _Books,
    account: Account,
    asset: Asset,
    qty: Decimal,
    px: Decimal,
    fee: Decimal,
    trade_date: dt.date,
    executed_at: dt.datetime | None,
    external_id: str | None,
    specific_lot_ids: Sequence[int] | None,
    pending_orders: Sequence[PendingOrder],
    description: str,
) -> TradeResult:
    account_key = str(account.pk)
    position = [
        lot for lot in books.lots if lot.account_id == account_key and lot.symbol == asset.symbol
    ]
    held = sum((lot.quantity for lot in position), ZERO)
    if qty > held:
        raise InvalidInput(
            f"cannot sell {qty.normalize()} {asset.symbol} from {account.name}: only {held.normalize()} held",
            field="quantity",
        )
    proceeds = sale_proceeds(qty, px, fee)
    txn = Transaction.objects.create(
        account=account,
        kind=TransactionKind.SELL,
        asset=asset,
        trade_date=trade_date,
        executed_at=executed_at,
        quantity=qty,
        price=px,
        fees=fee,
        amount=proceeds,
        external_id=external_id,
        description=description or f"Sell {qty.normalize()} {asset.symbol}",
    )
    Account.objects.filter(pk=account.pk).update(cash=F("cash") + proceeds)
    method = lot_method(account.lot_method)
    if specific_lot_ids:
        method = tax.LotMethod.SPECIFIC
    elif method is tax.LotMethod.SPECIFIC:
        method = tax.LotMethod.FIFO  # no lots named: the IRS default
    closing = tax.close_lots(
        position,
        quantity=qty,
        sale_price=px,
        sale_date=trade_date,
        method=method,
        fees=fee,
        specific_lot_ids=[str(i) for i in specific_lot_ids] if specific_lot_ids else None,
        rates=household_rates(books.household),
        sale_id=f"t{txn.pk}",
        reportable=account.account_type == AccountType.TAXABLE,
    )
    others = [
        lot
        for lot in books.lots
        if not (lot.account_id == account_key and lot.symbol == asset.symbol)
    ]
    outcome = tax.find_wash_sales(
        account_types=books.account_types,
        identity_groups=books.identity_groups,
        household_lots=[*others, *closing.remaining],
        pending_purchases=books.pending_purchases(pending_orders),
        sale=closing.closures,
    )
    record_pks: dict[str, int] = {}
    realized_rows: list[RealizedLot] = []
    for record in outcome.realised:
        row = RealizedLot.objects.create(
            account=account,
            asset=asset,
            lot_id=int(record.lot_id.split("~")[0]),
            sale=txn,
            acquisition_id=record.acquisition_id,
            quantity=record.quantity,
            acquired_on=record.acquired_on,
            holding_period_start=record.holding_acquired_on,
            sold_on=record.sold_on,
            proceeds=record.proceeds,
            cost_basis=record.cost_basis,
            adjustment_code=record.adjustment_code,
            adjustment_amount=record.wash_sale_disallowed,
            washed_quantity=record.washed_quantity,
            gain=record.gain_or_loss,
            term=record.term.value,
            reportable=record.reportable,
            basis_reported=record.basis_reported,
        )
        record_pks[record.record_id] = row.pk
        realized_rows.append(row)
    scope = {lot.lot_id for lot in position}
    saved = books.save_lots(
        outcome.lots, scope=scope, record_pks=record_pks, opened_by=txn, closed_on=trade_date
    )
    washes = books.save_wash_sales(outcome.wash_sales, record_pks=record_pks, lots=saved)
    return TradeResult(
        transaction=txn,
        created=True,
        realized=tuple(realized_rows),
        wash_sales=tuple(washes),
        lots=tuple(saved.values()),
    )


def pending_wash_sales_release(*, order_ref: str) -> int:
    """An order that will not fill (cancelled, rejected) gives back the losses it had washed."""
    with transaction.atomic():
        rows = list(
            WashSale.objects.select_for_update().filter(pending=True, replacement_order=order_ref)
        )
        for row in rows:
            record = RealizedLot.objects.select_for_update().get(pk=row.realized_lot_id)
            record.washed_quantity -= row.quantity
            record.adjustment_amount -= row.disallowed_loss
            record.adjustment_code = "W" if record.adjustment_amount > 0 else ""
            record.gain = record.proceeds - record.cost_basis + record.adjustment_amount
            record.save(
                update_fields=["washed_quantity", "adjustment_amount", "adjustment_code", "gain"]
            )
            row.delete()
    return len(rows)


def household_open_lots(*, household_id: int) -> Q:
    return Q(account__household_id=household_id, quantity__gt=0)
