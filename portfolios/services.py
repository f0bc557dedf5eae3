"""Write-side operations on the ledger and the universe. Each is one transaction."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import QuerySet, Sum

from portfolios.core.errors import InvalidInput
from portfolios.core.money import ZERO, cash, quantity
from portfolios.core.price_import import BarRow, ParsedPrices
from portfolios.core.tax import basis_reported_by_date
from portfolios.models import (
    Account,
    AccountValuation,
    Asset,
    AssetClass,
    AuditEvent,
    Position,
    PriceBar,
    SecurityType,
    TaxLot,
    Transaction,
    TransactionKind,
)
from portfolios.prepared import prepared_read
from portfolios.selectors import latest_prices

BATCH_SIZE = 5000


@dataclass(frozen=True)
class PriceImportResult:
    bars_written: int
    symbols: tuple[str, ...]
    assets_created: tuple[str, ...]
    first_date: date | None
    last_date: date | None
    missing_cells: int


def price_bars_import(
    *,
    parsed: ParsedPrices,
    create_missing_assets: bool = False,
    asset_class: str = AssetClass.US_EQUITY,
    source: str = PriceBar.Source.IMPORT,
    progress: Callable[[int], None] | None = None,
) -> PriceImportResult:
    """Write validated bars, replacing existing bars for the same asset and date.

    Refuses (and writes nothing) when the file had errors or names unknown symbols, unless
    ``create_missing_assets`` is set, in which case unknown symbols become unrated assets of
    ``asset_class`` that staff then classify in the admin.
    """
    if parsed.errors:
        raise InvalidInput(
            f"{len(parsed.errors)} bad row(s); nothing was imported",
            details=[str(e) for e in parsed.errors],
        )
    if asset_class not in AssetClass.values:
        raise InvalidInput(f"unknown asset class {asset_class!r}", field="asset_class")
    known = dict(Asset.objects.filter(symbol__in=parsed.symbols).values_list("symbol", "pk"))
    unknown = sorted(parsed.symbols - set(known))
    if unknown and not create_missing_assets:
        raise InvalidInput(
            f"unknown symbol(s): {', '.join(unknown)}; add them to the universe first "
            "or import with --create-missing",
            field="symbol",
            details=unknown,
        )
    with transaction.atomic():
        for symbol in unknown:
            asset = Asset.objects.create(
                symbol=symbol, name=symbol, asset_class=asset_class, esg_score=None
            )
            known[symbol] = asset.pk
        written = 0
        batch: list[PriceBar] = []
        for bar in parsed.bars:
            batch.append(_bar_model(bar, known[bar.symbol], source))
            if len(batch) >= BATCH_SIZE:
                written += _flush(batch)
                batch = []
                if progress is not None:
                    progress(written)
        written += _flush(batch)
        if progress is not None:
            progress(written)
    dates = [bar.date for bar in parsed.bars]
    return PriceImportResult(
        bars_written=written,
        symbols=tuple(sorted(parsed.symbols)),
        assets_created=tuple(unknown),
        first_date=min(dates) if dates else None,
        last_date=max(dates) if dates else None,
        missing_cells=parsed.missing_cells,
    )


def _bar_model(bar: BarRow, asset_id: int, source: str) -> PriceBar:
    return PriceBar(
        asset_id=asset_id,
        date=bar.date,
        open=bar.open,
        high=bar.high,
        low=bar.low,
        close=bar.close,
        volume=bar.volume,
        source=source,
    )


def _flush(batch: Sequence[PriceBar]) -> int:
    if not batch:
        return 0
    PriceBar.objects.bulk_create(
        batch,
        update_conflicts=True,
        unique_fields=["asset", "date"],
        update_fields=["open", "high", "low", "close", "volume", "source"],
    )
    return len(batch)


def basis_reported_by_type(asset: Asset, acquired_on: date) -> bool:
    """Whether ``asset`` acquired on ``acquired_on`` is a covered security (basis reported to
    the IRS): stock from 2011, and every ETF, taken to be a fund, from 2012."""
    return basis_reported_by_date(acquired_on, fund=asset.security_type == SecurityType.ETF)


def holding_transfer_in(
    *,
    account: Account,
    asset: Asset,
    quantity_: Decimal,
    cost_basis: Decimal,
    acquired_on: date,
    external_id: str | None = None,
    basis_reported: bool | None = None,
) -> TaxLot:
    """Record shares brought in from elsewhere with their original basis and date: a new lot.

    Used by onboarding and imports for holdings the client already had; no cash moves.
    ``basis_reported`` says whether the transfer statement marks the shares as covered (their
    basis reported to the IRS on the sale's Form 1099-B); ``None`` decides it by the
    acquisition date (:func:`basis_reported_by_type`), as a transfer statement would.
    """
    qty = quantity(quantity_, name="quantity")
    basis = cash(cost_basis, name="cost basis")
    if qty <= 0:
        raise InvalidInput(f"quantity must be positive, got {qty}", field="quantity")
    if basis < 0:
        raise InvalidInput(f"cost basis must not be negative, got {basis}", field="cost_basis")
    with transaction.atomic():
        txn = Transaction.objects.create(
            account=account,
            kind=TransactionKind.TRANSFER_IN,
            asset=asset,
            trade_date=acquired_on,
            quantity=qty,
            price=(basis / qty).quantize(Decimal("0.000001")) or Decimal("0.000001"),
            amount=ZERO,
            external_id=external_id,
            description=f"{qty.normalize()} sh {asset.symbol} transferred in",
        )
        lot = TaxLot.objects.create(
            account=account,
            asset=asset,
            quantity=qty,
            original_quantity=qty,
            cost_basis=basis,
            acquired_on=acquired_on,
            holding_period_start=acquired_on,
            acquisition_id=f"t{txn.pk}",
            opened_by=txn,
            basis_reported=basis_reported_by_type(asset, acquired_on)
            if basis_reported is None
            else basis_reported,
        )
        position_sync(account_id=account.pk, asset_ids=[asset.pk])
    return lot


def cash_deposit(
    *, account: Account, amount: Decimal, on: date, external_id: str | None = None
) -> Transaction:
    """Add cash to an account."""
    value = cash(amount)
    if value <= 0:
        raise InvalidInput(f"a deposit must be positive, got {value}", field="amount")
    with transaction.atomic():
        locked = Account.objects.select_for_update().get(pk=account.pk)
        txn = Transaction.objects.create(
            account=locked,
            kind=TransactionKind.DEPOSIT,
            trade_date=on,
            amount=value,
            external_id=external_id,
            description="Deposit",
        )
        Account.objects.filter(pk=locked.pk).update(cash=locked.cash + value)
    account.refresh_from_db(fields=["cash"])
    return txn


def cash_withdraw(
    *,
    account: Account,
    amount: Decimal,
    on: date,
    external_id: str | None = None,
    description: str = "Withdrawal",
) -> Transaction:
    """Pay cash out of an account; more than the cash available is refused (no margin)."""
    value = cash(amount)
    if value <= 0:
        raise InvalidInput(f"a withdrawal must be positive, got {value}", field="amount")
    with transaction.atomic():
        locked = Account.objects.select_for_update().get(pk=account.pk)
        if external_id and Transaction.objects.filter(external_id=external_id).exists():
            return Transaction.objects.get(external_id=external_id)
        if value > locked.cash:
            raise InvalidInput(
                f"cannot withdraw {value} from {locked.name}: only {locked.cash} in cash",
                field="amount",
            )
        txn = Transaction.objects.create(
            account=locked,
            kind=TransactionKind.WITHDRAWAL,
            trade_date=on,
            amount=-value,
            external_id=external_id,
            description=description,
        )
        Account.objects.filter(pk=locked.pk).update(cash=locked.cash - value)
    account.refresh_from_db(fields=["cash"])
    return txn


@prepared_read
def _open_quantities(account_id: int, asset_ids: list[int]) -> QuerySet[TaxLot, Any]:
    return (
        TaxLot.objects.filter(account_id=account_id, asset_id__in=asset_ids, quantity__gt=0)
        .values("asset_id")
        .annotate(total=Sum("quantity"))
        .values_list("asset_id", "total")
    )


@prepared_read
def _positions_held(account_id: int, asset_ids: list[int]) -> QuerySet[Position]:
    return Position.objects.filter(account_id=account_id, asset_id__in=asset_ids).only(
        "account_id", "asset_id", "quantity"
    )


def position_sync(*, account_id: int, asset_ids: Iterable[int]) -> None:
    """Set each position to the sum of its open lots (the ledger's invariant), inside a transaction."""
    ids = list(asset_ids)
    totals = dict(_open_quantities(account_id, ids))
    existing = {position.asset_id: position for position in _positions_held(account_id, ids)}
    for asset_id in ids:
        total = totals.get(asset_id) or ZERO
        position = existing.get(asset_id)
        if position is not None:
            position.quantity = total
            position.save(update_fields=["quantity", "updated_at"])
        else:
            Position.objects.create(account_id=account_id, asset_id=asset_id, quantity=total)


def account_valuations_record(*, on: date, account_ids: Iterable[int] | None = None) -> int:
    """Store each active account's close-of-day value for ``on``; running it again overwrites.

    Returns the number of accounts valued.
    """
    accounts = Account.objects.filter(is_active=True)
    if account_ids is not None:
        accounts = accounts.filter(pk__in=list(account_ids))
    accounts_list = list(accounts)
    positions = list(
        Position.objects.filter(account__in=accounts_list, quantity__gt=0).values_list(
            "account_id", "asset_id", "quantity"
        )
    )
    prices = latest_prices(asset_ids={asset_id for _, asset_id, _ in positions}, on=on)
    values: dict[int, Decimal] = {}
    for account_id, asset_id, qty in positions:
        last = prices.get(asset_id)
        if last is not None:
            values[account_id] = values.get(account_id, ZERO) + qty * last.close
    flows = dict(
        Transaction.objects.filter(
            account__in=accounts_list,
            trade_date=on,
            kind__in=[TransactionKind.DEPOSIT, TransactionKind.WITHDRAWAL],
        )
        .values("account_id")
        .annotate(total=Sum("amount"))
        .values_list("account_id", "total")
    )
    rows = [
        AccountValuation(
            account_id=account.pk,
            date=on,
            market_value=cash(values.get(account.pk, ZERO)),
            cash=account.cash,
            net_flow=cash(flows.get(account.pk) or ZERO),
        )
        for account in accounts_list
    ]
    with transaction.atomic():
        AccountValuation.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["account", "date"],
            update_fields=["market_value", "cash", "net_flow"],
        )
    return len(rows)


def audit_record(
    *,
    actor_id: int | None,
    action: str,
    obj: object,
    from_state: str = "",
    to_state: str = "",
    reason: str = "",
    data: Mapping[str, object] | None = None,
) -> AuditEvent:
    """Append one audit event for a sensitive action."""
    return AuditEvent.objects.create(
        actor_id=actor_id,
        action=action,
        object_type=type(obj).__name__,
        object_id=str(getattr(obj, "pk", obj)),
        from_state=from_state,
        to_state=to_state,
        reason=reason,
        data=dict(data or {}),
    )
