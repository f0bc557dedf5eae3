"""A household's performance: a time-weighted return series against a benchmark.

The series is rebuilt from the ledger, not from stored snapshots: every transaction since the
household's first one gives the daily share quantities and cash, and daily closes value them.
A day's return is

    r_t = (V_t - F_t) / V_{t-1} - 1

where ``V`` is the total value at the close (positions plus cash) and ``F`` the day's external
flow (deposits, withdrawals, and holdings transferred in at that day's value), counted at the end
of the day. Chaining ``1 + r_t`` gives the time-weighted return (GIPS), which money moving in or
out does not change: a deposit adds to value and to the flow alike. Dividends and fees are not
flows, so they count as performance.

An asset's value on a day before its first stored close (a lot bought before the price history
starts) is its transaction price, carried forward until a close exists; the lot then enters at
that price and earns nothing until prices are known.

The benchmark is the firm's ``benchmark_symbol`` when it names a fund: its return is the change
of its close since the first day of the series. Otherwise it is the household's *policy
benchmark*: its risk profile's equity, bond and cash split, each share in the most traded fund
of that sleeve (US equity, bonds, cash equivalents: the largest traded value over the last 60
days of stored prices), rebalanced to the split every day, so that a 70/30 client is measured
against 70/30 and not against the stock market. A sleeve with no fund earns nothing, as cash
would; a household without a risk profile is measured against the US-equity fund alone. The
blend covers the household's whole period: a fund before its first close is held as cash.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd
from django.db.models import F, FloatField, Max, Sum
from django.db.models.functions import Cast

from advisor.models import RiskProfile
from portfolios.models import (
    Asset,
    AssetClass,
    FirmSettings,
    PriceBar,
    SecurityType,
    Transaction,
    TransactionKind,
)

#: Share quantity each kind of transaction adds (+1) or removes (-1).
_QUANTITY_SIGN = {TransactionKind.BUY: 1, TransactionKind.TRANSFER_IN: 1, TransactionKind.SELL: -1}
#: Kinds whose cash amount is money entering or leaving the household (not performance).
_CASH_FLOW_KINDS = (TransactionKind.DEPOSIT, TransactionKind.WITHDRAWAL)


@dataclass(frozen=True)
class Performance:
    """Daily value and cumulative returns of a household, with its benchmark.

    ``value``, ``net_flow``, ``daily_return`` and ``cumulative_return`` share one date index
    (first transaction to the last close); ``benchmark_return`` is aligned to it (NaN before the
    benchmark's first close) or ``None`` when there is no benchmark.
    """

    value: pd.Series
    net_flow: pd.Series
    daily_return: pd.Series
    cumulative_return: pd.Series
    benchmark_return: pd.Series | None
    #: The benchmark's funds and weights: one fund at 1.0, or the policy blend's (weights sum to
    #: at most 1; the rest is a sleeve with no fund, held as cash); empty when there is none.
    benchmark_parts: tuple[tuple[str, float], ...] = ()

    @property
    def benchmark_symbol(self) -> str | None:
        """The benchmark's (first) fund."""
        return self.benchmark_parts[0][0] if self.benchmark_parts else None

    @property
    def benchmark_is_blend(self) -> bool:
        return any(weight != 1.0 for _, weight in self.benchmark_parts)

    @property
    def benchmark_name(self) -> str | None:
        """How pages name the benchmark: "ZLCA", or "70% ZLCA, 27% ZAGB, 3% ZCSH" (a sleeve
        with no fund shows as cash: "70% ZLCA, 27% ZAGB, 3% cash")."""
        if not self.benchmark_is_blend:
            return self.benchmark_symbol
        names = [f"{weight:.0%} {symbol}" for symbol, weight in self.benchmark_parts]
        rest = 1.0 - sum(weight for _, weight in self.benchmark_parts)
        if rest > 1e-9:
            names.append(f"{rest:.0%} cash")
        return ", ".join(names)

    @property
    def is_empty(self) -> bool:
        return self.value.empty

    @property
    def start(self) -> date | None:
        return None if self.value.empty else self.value.index[0]

    @property
    def end(self) -> date | None:
        return None if self.value.empty else self.value.index[-1]

    @property
    def total_return(self) -> float | None:
        return None if self.cumulative_return.empty else float(self.cumulative_return.iloc[-1])

    @property
    def benchmark_total_return(self) -> float | None:
        if self.benchmark_return is None:
            return None
        known = self.benchmark_return.dropna()
        return None if known.empty else float(known.iloc[-1])

    @property
    def annualised_return(self) -> float | None:
        """Compound annual rate over the series (``None`` under a year: it would mislead)."""
        total, start, end = self.total_return, self.start, self.end
        if total is None or start is None or end is None:
            return None
        years = (end - start).days / 365.25
        if years < 1 or total <= -1:
            return None
        return float((1.0 + total) ** (1.0 / years) - 1.0)


def time_weighted_returns(values: pd.Series, flows: pd.Series) -> pd.Series:
    """Daily time-weighted returns with flows at the end of each day.

    Parameters
    ----------
    values : Series, shape (n,)
        Total value at each day's close, after that day's flows.
    flows : Series, shape (n,)
        External flow of each day (positive in, negative out), on the same index.

    Returns
    -------
    Series, shape (n,)
        ``r_t = (V_t - F_t) / V_{t-1} - 1``; 0 on the first day and wherever the previous value
        is not positive (nothing was invested, so nothing was earned or lost).
    """
    v = values.to_numpy(dtype=float)
    f = flows.reindex(values.index).fillna(0.0).to_numpy(dtype=float)
    previous = np.concatenate(([0.0], v[:-1]))
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(previous > 0, (v - f) / previous - 1.0, 0.0)
    return pd.Series(r, index=values.index, name="return")


def cumulative(returns: pd.Series) -> pd.Series:
    """Chain daily returns into the cumulative return since the first day."""
    return (1.0 + returns).cumprod() - 1.0


def firm_benchmark() -> Asset | None:
    """The fund the firm's ``benchmark_symbol`` names, if it names one."""
    symbol = FirmSettings.current().benchmark_symbol.strip()
    return Asset.objects.filter(symbol__iexact=symbol).first() if symbol else None


#: The asset class whose most traded fund stands for the equity, bond and cash sleeves of the
#: policy benchmark, in the order of :func:`policy_split`.
POLICY_SLEEVES = (AssetClass.US_EQUITY, AssetClass.BOND, AssetClass.CASH)


def policy_split(*, household_id: int) -> tuple[float, float, float] | None:
    """The equity, bond and cash weights of the household's primary member (the first client
    with a risk profile, whose profile also drives the recommendation); ``None`` without one."""
    row = (
        RiskProfile.objects.filter(client__household_id=household_id)
        .order_by("client__created_at", "client_id")
        .values_list("equity_weight", "bond_weight", "cash_weight")
        .first()
    )
    return None if row is None else (float(row[0]), float(row[1]), float(row[2]))


def benchmark_parts(*, household_id: int, as_of: date | None = None) -> list[tuple[Asset, float]]:
    """The household's benchmark as (fund, weight) pairs (see the module's docstring)."""
    chosen = firm_benchmark()
    if chosen is not None:
        return [(chosen, 1.0)]
    split = policy_split(household_id=household_id)
    if split is None:
        fund = most_traded_fund(AssetClass.US_EQUITY, as_of=as_of)
        return [] if fund is None else [(fund, 1.0)]
    parts: list[tuple[Asset, float]] = []
    for weight, asset_class in zip(split, POLICY_SLEEVES, strict=True):
        fund = most_traded_fund(asset_class, as_of=as_of) if weight > 0 else None
        if fund is not None:
            parts.append((fund, weight))
    return parts


def most_traded_fund(asset_class: str, *, as_of: date | None = None) -> Asset | None:
    """The fund of ``asset_class`` with the largest traded value over the 60 days to ``as_of``
    (default: the latest stored close): summed, so a fund listed last week with one busy day does
    not outrank one that trades every day."""
    bars = PriceBar.objects.filter(
        asset__asset_class=asset_class, asset__security_type=SecurityType.ETF
    )
    if as_of is None:
        as_of = bars.aggregate(last=Max("date"))["last"]
        if as_of is None:
            return None
    ranked = (
        bars.filter(date__gt=as_of - timedelta(days=60), date__lte=as_of)
        .values("asset_id")
        .annotate(traded=Sum(F("volume") * F("close")))
        .order_by("-traded", "asset_id")
        .values_list("asset_id", flat=True)
    )
    first = ranked.first()
    return None if first is None else Asset.objects.get(pk=first)


def _closes(asset_ids: list[int], start: date, end: date | None) -> pd.DataFrame:
    """Daily closes as a (date x asset id) float frame."""
    bars = PriceBar.objects.filter(asset_id__in=asset_ids, date__gte=start)
    if end is not None:
        bars = bars.filter(date__lte=end)
    rows = bars.annotate(px=Cast("close", FloatField())).values_list("date", "asset_id", "px")
    frame = pd.DataFrame.from_records(list(rows), columns=["date", "asset", "close"])
    if frame.empty:
        return pd.DataFrame(dtype=float)
    return frame.pivot(index="date", columns="asset", values="close").sort_index()


def household_performance(*, household_id: int, end: date | None = None) -> Performance:
    """The household's daily value and time-weighted return since its first transaction.

    ``end`` limits the series to closes on or before that day (default: the latest close).
    """
    txns = Transaction.objects.filter(account__household_id=household_id)
    if end is not None:
        txns = txns.filter(trade_date__lte=end)
    records = list(
        txns.annotate(
            qty=Cast("quantity", FloatField()),
            px=Cast("price", FloatField()),
            cash_amount=Cast("amount", FloatField()),
        ).values_list("trade_date", "kind", "asset_id", "qty", "px", "cash_amount")
    )
    if not records:
        empty = pd.Series(dtype=float)
        return Performance(empty, empty, empty, empty, None)
    parts = benchmark_parts(household_id=household_id, as_of=end)
    ledger = pd.DataFrame.from_records(
        records, columns=["date", "kind", "asset", "quantity", "price", "amount"]
    )
    start = ledger["date"].min()
    held = sorted({int(a) for a in ledger["asset"].dropna()})
    wanted = held + [fund.pk for fund, _ in parts if fund.pk not in held]
    closes = _closes(wanted, start, end)

    days = pd.Index(sorted(set(closes.index) | set(ledger["date"])), name="date")

    # Share quantities per asset and day, and the day's cash and external flows.
    sign = ledger["kind"].map(_QUANTITY_SIGN).fillna(0.0)
    # (the product before the filter: pandas would give an empty frame the Series' index)
    trades = ledger.assign(delta=ledger["quantity"] * sign)[sign != 0]
    trades = trades.assign(asset=trades["asset"].astype(int))
    quantities = (
        trades.pivot_table(index="date", columns="asset", values="delta", aggfunc="sum")
        .reindex(index=days, columns=held)
        .fillna(0.0)
        .cumsum()
    )
    cash = ledger.groupby("date")["amount"].sum().reindex(days).fillna(0.0).cumsum()

    # Prices: closes, with transaction prices where no close is known yet, carried forward.
    known = closes.reindex(index=days, columns=held)
    traded_at = trades.pivot_table(index="date", columns="asset", values="price", aggfunc="last")
    traded_at = traded_at.reindex(index=days, columns=held)
    prices = known.fillna(traded_at).ffill().fillna(0.0)

    value = (quantities * prices).sum(axis=1) + cash
    deposits = ledger[ledger["kind"].isin(_CASH_FLOW_KINDS)].groupby("date")["amount"].sum()
    transfers = trades[trades["kind"] == TransactionKind.TRANSFER_IN]
    transfer_value = pd.Series(_value_at(prices, transfers), index=transfers["date"].to_numpy())
    flows = (
        pd.concat([deposits, transfer_value.groupby(level=0).sum()])
        .groupby(level=0)
        .sum()
        .reindex(days)
        .fillna(0.0)
    )
    daily = time_weighted_returns(value, flows)
    return Performance(
        value=value.rename("value"),
        net_flow=flows.rename("net_flow"),
        daily_return=daily,
        cumulative_return=cumulative(daily).rename("cumulative_return"),
        benchmark_return=_benchmark_series(closes, parts, days),
        benchmark_parts=tuple((fund.symbol, weight) for fund, weight in parts),
    )


def _benchmark_series(
    closes: pd.DataFrame, parts: list[tuple[Asset, float]], days: pd.Index
) -> pd.Series | None:
    """Cumulative return of the benchmark over the household's days.

    One fund: the change of its close since its first close in the period (NaN before it). A
    blend: each fund's weight of its own daily return, rebalanced every day and chained from the
    household's first day; a fund before its first close (or with none) is held as cash, so the
    blend covers the same period as the household's return.
    """
    if not parts:
        return None
    if len(parts) == 1 and parts[0][1] == 1.0:
        fund = parts[0][0]
        if fund.pk not in closes.columns:
            return None
        column = closes[fund.pk].reindex(days).ffill()
        known = column.dropna()
        return None if known.empty else column / float(known.iloc[0]) - 1.0
    ids = [fund.pk for fund, _ in parts]
    if not any(pk in closes.columns for pk in ids):
        return None
    frame = closes.reindex(index=days, columns=ids).ffill()
    weights = np.array([weight for _, weight in parts])
    daily = frame.pct_change().fillna(0.0).to_numpy() @ weights
    return pd.Series(np.cumprod(1.0 + daily) - 1.0, index=days)


def _value_at(prices: pd.DataFrame, transfers: pd.DataFrame) -> np.ndarray:
    """Value of each transferred-in holding at its day's price (the flow it brings in)."""
    if transfers.empty:
        return np.zeros(0)
    rows = prices.index.get_indexer(transfers["date"])
    cols = prices.columns.get_indexer(transfers["asset"].astype(int))
    return transfers["quantity"].to_numpy(dtype=float) * prices.to_numpy()[rows, cols]
