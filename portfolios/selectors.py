"""Read-side queries of the ledger. Selectors never write."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from operator import itemgetter
from typing import Any

import numpy as np
import pandas as pd
from django.db import connection
from django.db.models import CharField, OuterRef, QuerySet, Subquery, Sum
from django.db.models.functions import Cast

from portfolios.core.money import ZERO, cash
from portfolios.models import Account, AccountValuation, Asset, Position, PriceBar, TaxLot
from portfolios.prepared import prepared_read


@dataclass(frozen=True)
class LastPrice:
    asset_id: int
    symbol: str
    close: Decimal
    date: date


@prepared_read
def _latest_bars(asset_ids: list[int] | None, on: date | None) -> QuerySet[Any, Any]:
    bars = PriceBar.objects.filter(asset=OuterRef("pk"))
    if on is not None:
        bars = bars.filter(date__lte=on)
    bars = bars.order_by("-date")
    assets = Asset.objects.all()
    if asset_ids is not None:
        assets = assets.filter(pk__in=asset_ids)
    return assets.annotate(
        last_close=Subquery(bars.values("close")[:1]), last_date=Subquery(bars.values("date")[:1])
    ).values_list("pk", "symbol", "last_close", "last_date")


def latest_prices(
    *, asset_ids: Iterable[int] | None = None, on: date | None = None
) -> dict[int, LastPrice]:
    """The latest close on or before ``on`` for each asset that has one."""
    rows = _latest_bars(None if asset_ids is None else list(asset_ids), on)
    return {
        pk: LastPrice(pk, symbol, close, day)
        for pk, symbol, close, day in rows
        if close is not None and day is not None
    }


def household_accounts(*, household_id: int) -> QuerySet[Account]:
    return Account.objects.filter(household_id=household_id, is_active=True).order_by("name")


@dataclass(frozen=True)
class LotView:
    id: int
    quantity: Decimal
    cost_basis: Decimal
    acquired_on: date
    holding_period_start: date
    wash_sale_adjustment: Decimal
    market_value: Decimal
    unrealized_gain: Decimal


@dataclass(frozen=True)
class PositionView:
    account_id: int
    asset_id: int
    symbol: str
    name: str
    asset_class: str
    sector: str
    esg_score: int | None
    quantity: Decimal
    price: Decimal
    price_date: date | None
    market_value: Decimal
    cost_basis: Decimal
    unrealized_gain: Decimal
    lots: tuple[LotView, ...]


@dataclass
class AccountView:
    id: int
    name: str
    account_type: str
    lot_method: str
    cash: Decimal
    positions: list[PositionView] = field(default_factory=list)

    @property
    def market_value(self) -> Decimal:
        return sum((p.market_value for p in self.positions), ZERO)

    @property
    def total_value(self) -> Decimal:
        return self.market_value + self.cash

    @property
    def unrealized_gain(self) -> Decimal:
        return sum((p.unrealized_gain for p in self.positions), ZERO)


def household_holdings(*, household_id: int, on: date | None = None) -> list[AccountView]:
    """Every active account of the household with positions valued at the latest close.

    Three queries whatever the size of the household: accounts with positions, open lots, prices.
    """
    accounts = list(household_accounts(household_id=household_id))
    account_ids = [a.pk for a in accounts]
    positions = list(
        Position.objects.filter(account_id__in=account_ids, quantity__gt=0)
        .select_related("asset")
        .order_by("account_id", "asset__symbol")
    )
    lots_by_key: dict[tuple[int, int], list[TaxLot]] = defaultdict(list)
    for lot in TaxLot.objects.filter(account_id__in=account_ids, quantity__gt=0).order_by(
        "acquired_on", "id"
    ):
        lots_by_key[(lot.account_id, lot.asset_id)].append(lot)
    prices = latest_prices(asset_ids={p.asset_id for p in positions}, on=on)
    views = {
        a.pk: AccountView(a.pk, a.name, a.account_type, a.lot_method, a.cash) for a in accounts
    }
    for position in positions:
        last = prices.get(position.asset_id)
        px = last.close if last else ZERO
        lots = []
        for lot in lots_by_key[(position.account_id, position.asset_id)]:
            value = cash(lot.quantity * px)
            lots.append(
                LotView(
                    lot.pk,
                    lot.quantity,
                    lot.cost_basis,
                    lot.acquired_on,
                    lot.holding_period_start,
                    lot.wash_sale_adjustment,
                    value,
                    value - lot.cost_basis,
                )
            )
        basis = sum((lot.cost_basis for lot in lots), ZERO)
        value = cash(position.quantity * px)
        asset = position.asset
        views[position.account_id].positions.append(
            PositionView(
                account_id=position.account_id,
                asset_id=asset.pk,
                symbol=asset.symbol,
                name=asset.name,
                asset_class=asset.asset_class,
                sector=asset.sector,
                esg_score=asset.esg_score,
                quantity=position.quantity,
                price=px,
                price_date=last.date if last else None,
                market_value=value,
                cost_basis=basis,
                unrealized_gain=value - basis,
                lots=tuple(lots),
            )
        )
    return list(views.values())


def household_value_history(*, household_id: int) -> list[tuple[date, Decimal, Decimal]]:
    """Daily (date, total value, net flow) of the household, summed over its accounts."""
    rows = (
        AccountValuation.objects.filter(account__household_id=household_id)
        .values("date")
        .annotate(value=Sum("market_value"), cash_total=Sum("cash"), flow=Sum("net_flow"))
        .order_by("date")
    )
    return [(r["date"], r["value"] + r["cash_total"], r["flow"]) for r in rows]


@prepared_read
def _asset_symbols(asset_ids: list[int]) -> QuerySet[Any, Any]:
    return Asset.objects.filter(pk__in=asset_ids).values_list("pk", "symbol")


@prepared_read
def _frame_bars(asset_ids: list[int], start: date, end: date, as_text: bool) -> QuerySet[Any, Any]:
    bars = PriceBar.objects.filter(asset_id__in=asset_ids, date__gte=start, date__lte=end)
    if as_text:
        # SQLite's adapter parses every date value; as text, each distinct day is parsed once
        return bars.annotate(day=Cast("date", output_field=CharField())).values_list(
            "day", "asset_id", "close"
        )
    return bars.values_list("date", "asset_id", "close")


def price_frame(*, asset_ids: Iterable[int], start: date, end: date) -> pd.DataFrame:
    """Daily closes as a (date x symbol) float frame, NaN where an asset has no bar.

    The rows are read with the database cursor, without the ORM's per-value converters: a
    year of 20 assets is some 5,000 rows, read by every proposal run and recommendation.
    """
    ids = list(asset_ids)
    symbols = dict(_asset_symbols(ids))
    rows = _frame_bars.raw(ids, start, end, connection.vendor == "sqlite")
    if not rows:
        return pd.DataFrame()
    days, assets, closes = (list(map(itemgetter(i), rows)) for i in range(3))
    index = sorted(set(days))
    row_of = dict(zip(index, range(len(index)), strict=True))
    held = set(assets)
    columns = sorted(symbols[pk] for pk in held)
    position = {symbol: i for i, symbol in enumerate(columns)}
    column_of = {pk: position[symbols[pk]] for pk in held}
    # laid out as pandas' pivot lays it out (one float block, rows contiguous), so every
    # computation on the frame rounds exactly as it did on the pivoted one
    matrix = np.full((len(index), len(columns)), np.nan)
    count = len(rows)
    matrix[
        np.fromiter(map(row_of.__getitem__, days), dtype=np.intp, count=count),
        np.fromiter(map(column_of.__getitem__, assets), dtype=np.intp, count=count),
    ] = np.array(closes, dtype=float)
    if isinstance(index[0], str):
        index = [date.fromisoformat(day) for day in index]
    return pd.DataFrame(
        matrix,
        index=pd.Index(index, name="date"),
        columns=pd.Index(columns, name="symbol"),
        copy=False,
    )
