"""The volatility regime: realised volatility against its own trailing quantiles.

At time t the classifier compares the realised volatility of the window ending at t with the
quantiles of the volatilities seen over the trailing ``lookback`` rows ending at t, so it never
looks ahead and adapts as markets calm down or heat up.
"""

from __future__ import annotations

import math
from datetime import datetime

import numpy as np
import pandas as pd

from portfolios.core.errors import InvalidInput
from signals.core.timeseries import require_series, require_window, to_datetime, up_to
from signals.core.types import Signal, SignalKind, VolatilityRegime


def realised_volatility(
    close: pd.Series, *, window: int = 20, periods_per_year: float = 252.0
) -> pd.Series:
    """Annualised standard deviation of log returns over the trailing ``window`` rows.

    Parameters
    ----------
    close : pd.Series, shape (T,)
        Positive prices indexed by timestamp.
    window : int
        Returns per estimate.
    periods_per_year : float
        Rows per year for annualising (252 for daily bars).

    Returns
    -------
    pd.Series, shape (T,)
        Missing for the first ``window`` rows.
    """
    close = require_series(close, name="close", positive=True)
    window = require_window(window, name="window")
    if not (math.isfinite(periods_per_year) and periods_per_year > 0):
        raise InvalidInput("periods_per_year must be positive", field="periods_per_year")
    returns = np.log(close).diff()
    volatility = returns.rolling(window, min_periods=window).std(ddof=1)
    return (volatility * math.sqrt(periods_per_year)).rename("volatility")


def volatility_regime(
    close: pd.Series,
    *,
    window: int = 20,
    lookback: int = 252,
    low_quantile: float = 1.0 / 3.0,
    high_quantile: float = 2.0 / 3.0,
    min_history: int | None = None,
    periods_per_year: float = 252.0,
) -> pd.DataFrame:
    """Classify each row as low, normal or high volatility without look-ahead.

    Parameters
    ----------
    close : pd.Series, shape (T,)
    window : int
        Returns per realised-volatility estimate.
    lookback : int
        Volatility estimates (rows) whose quantiles set the thresholds at each t, ending at t.
    low_quantile, high_quantile : float
        Volatility at or below the low quantile is ``low``, at or above the high one ``high``.
    min_history : int, optional
        Volatility estimates needed before classifying (default ``lookback // 2``).
    periods_per_year : float
        For annualising.

    Returns
    -------
    pd.DataFrame, shape (T, 5)
        ``volatility``, ``low_threshold``, ``high_threshold``, ``percentile`` (the share of the
        trailing estimates at or below the current one) and ``regime`` (-1 low, 0 normal, 1 high,
        missing during warm-up; see :meth:`VolatilityRegime.from_code`).
    """
    lookback = require_window(lookback, name="lookback")
    if not (0.0 < low_quantile < high_quantile < 1.0):
        raise InvalidInput(
            f"quantiles must satisfy 0 < low < high < 1, got {low_quantile}, {high_quantile}",
            field="low_quantile",
        )
    history = lookback // 2 if min_history is None else min_history
    history = require_window(history, name="min_history")
    if history > lookback:
        raise InvalidInput("min_history cannot exceed lookback", field="min_history")
    volatility = realised_volatility(close, window=window, periods_per_year=periods_per_year)
    trailing = volatility.rolling(lookback, min_periods=history)
    low = trailing.quantile(low_quantile)
    high = trailing.quantile(high_quantile)
    percentile = trailing.rank(pct=True)
    regime = pd.Series(0.0, index=volatility.index)
    regime = regime.mask(volatility <= low, -1.0).mask(volatility >= high, 1.0)
    regime = regime.where(low.notna() & high.notna() & volatility.notna())
    return pd.DataFrame(
        {
            "volatility": volatility,
            "low_threshold": low,
            "high_threshold": high,
            "percentile": percentile,
            "regime": regime,
        },
        index=volatility.index,
    )


def volatility_regime_signal(
    close: pd.Series,
    *,
    asset: str,
    as_of: datetime,
    window: int = 20,
    lookback: int = 252,
    low_quantile: float = 1.0 / 3.0,
    high_quantile: float = 2.0 / 3.0,
    periods_per_year: float = 252.0,
) -> Signal:
    """The volatility regime at ``as_of`` as a signal (no direction).

    ``value`` is the regime code (-1 low, 0 normal, 1 high); confidence is how far the current
    volatility's trailing percentile lies from the middle, ``|2 p - 1|``.
    """
    close = up_to(require_series(close, name="close", positive=True), as_of, name="close")
    table = volatility_regime(
        close,
        window=window,
        lookback=lookback,
        low_quantile=low_quantile,
        high_quantile=high_quantile,
        periods_per_year=periods_per_year,
    )
    last = table.iloc[-1]
    if pd.isna(last["regime"]):
        raise InvalidInput(
            f"volatility regime needs at least {window + lookback // 2} rows of prices",
            field="close",
        )
    regime = VolatilityRegime.from_code(last["regime"])
    used = min(len(close), window + lookback)
    return Signal(
        asset=asset,
        kind=SignalKind.VOLATILITY_REGIME,
        value=float(regime.code),
        confidence=float(min(1.0, abs(2.0 * float(last["percentile"]) - 1.0))),
        as_of=as_of,
        window_start=to_datetime(close.index[-used]),
        window_end=to_datetime(close.index[-1]),
        details={
            "regime": regime.value,
            "volatility": float(last["volatility"]),
            "low_threshold": float(last["low_threshold"]),
            "high_threshold": float(last["high_threshold"]),
        },
    )
