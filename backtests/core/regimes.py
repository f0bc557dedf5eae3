"""Volatility regimes of a benchmark, for breaking results down by market conditions.

The classifier is :func:`signals.core.regime.volatility_regime` (20-day realised volatility
against the terciles of its trailing year). The regime a day's return is filed under is the one
known at the previous close, so the breakdown never uses the day it describes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from portfolios.core.errors import InvalidInput
from signals.core.regime import volatility_regime
from signals.core.types import VolatilityRegime

REGIME_WINDOW = 20
REGIME_LOOKBACK = 252


#: What reports call :func:`equal_weight_index` (its series' name).
EQUAL_WEIGHT_NAME = "equal-weighted index of the assets"


def equal_weight_index(closes: pd.DataFrame) -> pd.Series:
    """An equal-weighted index of the columns (rebalanced daily; an asset joins at its first
    close), starting at 100; the benchmark when none is given.

    Parameters
    ----------
    closes : pd.DataFrame, shape (T, n)
        Closes by date and symbol, NaN before an asset's first close.
    """
    if closes.empty:
        raise InvalidInput("no closes for a benchmark", field="closes")
    returns = closes.sort_index().pct_change(fill_method=None)
    mean = returns.mean(axis=1, skipna=True).fillna(0.0)
    mean.iloc[0] = 0.0
    return (100.0 * (1.0 + mean).cumprod()).rename(EQUAL_WEIGHT_NAME)


def benchmark_regimes(
    benchmark: pd.Series, *, window: int = REGIME_WINDOW, lookback: int = REGIME_LOOKBACK
) -> pd.Series:
    """The regime label in force on each date (known at the previous close), shape (T,).

    Parameters
    ----------
    benchmark : pd.Series, shape (T,)
        Positive closes indexed by date.

    Returns
    -------
    pd.Series of str or NaN
        ``low``, ``normal`` or ``high``; missing while the classifier warms up.
    """
    close = benchmark.dropna().astype(float)
    if close.empty:
        raise InvalidInput("the benchmark has no closes", field="benchmark")
    stamped = close.copy()
    stamped.index = pd.DatetimeIndex(pd.to_datetime(close.index)).tz_localize("UTC")
    table = volatility_regime(stamped, window=window, lookback=lookback)
    codes = table["regime"].to_numpy()
    labels = np.array(
        [VolatilityRegime.from_code(c).value if np.isfinite(c) else None for c in codes],
        dtype=object,
    )
    known = pd.Series(labels, index=close.index).shift(1)
    return known.reindex(benchmark.index)
