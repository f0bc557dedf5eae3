"""Synthetic price paths: the cash-like asset, and closed-form markets for checking the engine.

The cash asset stands in for a money-market fund where a market has no bond or cash asset: its
price grows at a constant annual rate over calendar time, ``P_t = P_0 (1 + r) ** (days / 365.25)``,
so it has no volatility and no drawdown.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import numpy as np
import pandas as pd

from portfolios.core.errors import InvalidInput

DAYS_PER_YEAR = 365.25


def constant_growth(days: Sequence[date], *, rate: float, start_price: float = 100.0) -> pd.Series:
    """Closes growing at ``rate`` a year over calendar time, shape (T,)."""
    if not days:
        raise InvalidInput("no days", field="days")
    if start_price <= 0 or rate <= -1:
        raise InvalidInput(
            "the start price must be positive and the rate above -100%", field="rate"
        )
    index = pd.DatetimeIndex(pd.to_datetime(list(days)))
    elapsed = (index - index[0]).days.to_numpy(dtype=float)
    return pd.Series(start_price * (1.0 + rate) ** (elapsed / DAYS_PER_YEAR), index=index)


def business_days(start: date, end: date) -> list[date]:
    """Weekdays from ``start`` to ``end`` inclusive."""
    return [d.date() for d in pd.bdate_range(start, end)]


def fall_and_recover(
    days: Sequence[date],
    *,
    fall_start: int,
    fall_days: int,
    depth: float,
    recover_days: int,
    start_price: float = 100.0,
) -> pd.Series:
    """A price flat at ``start_price``, falling linearly by ``depth`` over ``fall_days`` from day
    ``fall_start``, then recovering linearly to the start over ``recover_days``, then flat."""
    if not 0 < depth < 1:
        raise InvalidInput("depth is a fraction in (0, 1)", field="depth")
    n = len(days)
    path = np.full(n, start_price, dtype=float)
    bottom = start_price * (1 - depth)
    for i in range(n):
        k = i - fall_start
        if 0 <= k < fall_days:
            path[i] = start_price + (bottom - start_price) * (k + 1) / fall_days
        elif fall_days <= k < fall_days + recover_days:
            path[i] = bottom + (start_price - bottom) * (k - fall_days + 1) / recover_days
    return pd.Series(path, index=pd.DatetimeIndex(pd.to_datetime(list(days))))


def random_walk(
    days: Sequence[date],
    *,
    symbols: Sequence[str],
    seed: int,
    drift: float = 0.07,
    volatility: float = 0.2,
    correlation: float = 0.5,
) -> pd.DataFrame:
    """Correlated geometric random walks (one factor), seeded: a small market for tests."""
    rng = np.random.default_rng(seed)
    n, k = len(days), len(symbols)
    daily_sd = volatility / np.sqrt(252)
    common = rng.normal(0.0, 1.0, size=(n, 1))
    own = rng.normal(0.0, 1.0, size=(n, k))
    shocks = np.sqrt(correlation) * common + np.sqrt(1 - correlation) * own
    log_returns = (drift - 0.5 * volatility**2) / 252 + daily_sd * shocks
    log_returns[0] = 0.0
    prices = 100.0 * np.exp(np.cumsum(log_returns, axis=0))
    return pd.DataFrame(
        prices, index=pd.DatetimeIndex(pd.to_datetime(list(days))), columns=list(symbols)
    )
