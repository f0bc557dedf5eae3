"""The account's value on every trading day, computed once from its ledger and the closes.

Storing a valuation per simulated day would cost a database write a day; instead the replay
reads the ledger's transactions at the end and values the holdings of each day at that day's
closes here (the last close when an asset has no bar that day, as the live valuation does).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from portfolios.core.errors import InvalidInput


@dataclass(frozen=True)
class LedgerEntry:
    """One transaction: its trade date, the symbol (None for cash only), the signed change in
    shares and the signed change in cash."""

    day: date
    symbol: str | None
    shares: float
    amount: float


def holdings_by_day(entries: Iterable[LedgerEntry], days: Sequence[date]) -> pd.DataFrame:
    """Shares held at each day's close, shape (T, symbols), zero before the first trade."""
    index = pd.DatetimeIndex(pd.to_datetime(list(days)))
    rows = [(pd.Timestamp(e.day), e.symbol, e.shares) for e in entries if e.symbol]
    if not rows:
        return pd.DataFrame(index=index, dtype=float)
    frame = pd.DataFrame(rows, columns=["day", "symbol", "shares"])
    if (frame["day"] > index[-1]).any():
        raise InvalidInput("a transaction is dated after the last day", field="entries")
    daily = frame.pivot_table(index="day", columns="symbol", values="shares", aggfunc="sum")
    daily = daily.reindex(daily.index.union(index)).fillna(0.0).cumsum()
    held = daily.reindex(index).ffill().fillna(0.0)
    held[held.abs() < 1e-12] = 0.0
    return held


def cash_by_day(entries: Iterable[LedgerEntry], days: Sequence[date]) -> pd.Series:
    """Cash at each day's close, shape (T,)."""
    index = pd.DatetimeIndex(pd.to_datetime(list(days)))
    rows = [(pd.Timestamp(e.day), e.amount) for e in entries]
    if not rows:
        return pd.Series(0.0, index=index)
    frame = pd.DataFrame(rows, columns=["day", "amount"]).groupby("day")["amount"].sum()
    return frame.reindex(frame.index.union(index)).fillna(0.0).cumsum().reindex(index).ffill()


def account_values(
    entries: Sequence[LedgerEntry], closes: pd.DataFrame, days: Sequence[date]
) -> pd.DataFrame:
    """Daily ``invested``, ``cash`` and ``value`` of the account, shape (T, 3).

    Parameters
    ----------
    entries
        Every transaction of the account.
    closes : pd.DataFrame
        Closes by date and symbol; must cover every symbol ever held.
    days
        The trading days to value, sorted.
    """
    held = holdings_by_day(entries, days)
    index = held.index
    prices = closes.copy()
    prices.index = pd.DatetimeIndex(pd.to_datetime(prices.index))
    missing = [s for s in held.columns if s not in prices.columns]
    if missing:
        raise InvalidInput(f"no closes for held {', '.join(missing)}", field="closes")
    prices = prices.reindex(prices.index.union(index)).ffill().reindex(index)[list(held.columns)]
    positions = held.to_numpy() * np.nan_to_num(prices.to_numpy(), nan=0.0)
    invested = pd.Series(positions.sum(axis=1), index=index)
    cash = cash_by_day(entries, days)
    return pd.DataFrame({"invested": invested, "cash": cash, "value": invested + cash})


def weights_by_day(
    entries: Sequence[LedgerEntry], closes: pd.DataFrame, days: Sequence[date]
) -> pd.DataFrame:
    """Each symbol's share of the account's value (cash in its own column), shape (T, n + 1)."""
    held = holdings_by_day(entries, days)
    prices = closes.copy()
    prices.index = pd.DatetimeIndex(pd.to_datetime(prices.index))
    prices = prices.reindex(prices.index.union(held.index)).ffill().reindex(held.index)
    values = held * prices[list(held.columns)].fillna(0.0)
    cash = cash_by_day(entries, days)
    total = values.sum(axis=1) + cash
    weights = values.div(total, axis=0)
    weights["cash"] = cash / total
    return weights
