"""Pairs: Engle-Granger cointegration of two assets and the z-score of their spread.

Step one regresses ``y`` on ``x`` (log prices by default) by least squares, giving the hedge ratio
``beta`` and the spread ``u = y - c - beta x``. Step two runs an augmented Dickey-Fuller test on
``u`` and judges it against the Engle-Granger (MacKinnon) critical values for a *residual* of a
two-variable regression, which are stricter than the plain ADF ones because the fit has already
made ``u`` look as stationary as it can. A cointegrated pair whose spread is far from its mean is
expected to converge: long the cheap leg, short the rich one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

import numpy as np
import pandas as pd

from portfolios.core.errors import InvalidInput
from signals.core.meanreversion import fit_ar1, slope_reverts
from signals.core.timeseries import require_series, require_window, to_datetime, up_to
from signals.core.types import Signal, SignalKind

MIN_OBSERVATIONS = 30


@dataclass(frozen=True)
class Cointegration:
    """The Engle-Granger test of one pair and its spread's state at the last observation.

    Attributes
    ----------
    hedge_ratio : float
        ``beta`` in ``y = c + beta x + u``: units of ``x`` (log price) per unit of ``y``.
    intercept : float
        ``c``.
    adf_statistic : float
        The Dickey-Fuller t-statistic of the spread.
    p_value : float
        MacKinnon's approximate p-value for no cointegration.
    critical_values : Mapping[str, float]
        Engle-Granger critical values at ``"1%"``, ``"5%"`` and ``"10%"``.
    significance : float
        Level the test was judged at.
    cointegrated : bool
        ``p_value < significance``.
    spread_mean, spread_std : float
        Of the spread over the fitted window (the mean is 0 by construction of the fit).
    z_score : float
        The last spread over ``spread_std``.
    half_life : float
        Of the spread's AR(1) reversion, in periods (infinite if it does not revert).
    observations : int
    """

    hedge_ratio: float
    intercept: float
    adf_statistic: float
    p_value: float
    critical_values: Mapping[str, float] = field(hash=False)
    significance: float
    cointegrated: bool
    spread_mean: float
    spread_std: float
    z_score: float
    half_life: float
    observations: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "critical_values", MappingProxyType(dict(self.critical_values)))


def _aligned(y: pd.Series, x: pd.Series, log_prices: bool) -> pd.DataFrame:
    y = require_series(y, name="y", positive=log_prices)
    x = require_series(x, name="x", positive=log_prices)
    both = pd.concat({"y": y, "x": x}, axis=1, join="inner")
    if len(both) < MIN_OBSERVATIONS:
        raise InvalidInput(
            f"a pair needs at least {MIN_OBSERVATIONS} common timestamps, got {len(both)}",
            field="y",
        )
    return np.log(both) if log_prices else both


def hedge_ratio(y: np.ndarray, x: np.ndarray) -> tuple[float, float]:
    """Least-squares intercept and slope of ``y`` on ``x``.

    Parameters
    ----------
    y, x : np.ndarray, shape (T,)
    """
    design = np.column_stack([np.ones_like(x), x])
    (intercept, slope), *_ = np.linalg.lstsq(design, y, rcond=None)
    return float(intercept), float(slope)


def engle_granger(
    y: pd.Series,
    x: pd.Series,
    *,
    log_prices: bool = True,
    significance: float = 0.05,
) -> Cointegration:
    """Engle-Granger two-step cointegration test of ``y`` against ``x``.

    Parameters
    ----------
    y, x : pd.Series, shape (T,)
        Prices indexed by timestamp; only common timestamps are used.
    log_prices : bool
        Regress log prices (the spread is then a log-price spread).
    significance : float
        Level at which the null of no cointegration is rejected.
    """
    from statsmodels.tsa.stattools import coint

    if not (0.0 < significance < 1.0):
        raise InvalidInput(f"significance must be in (0, 1), got {significance!r}")
    both = _aligned(y, x, log_prices)
    ys, xs = both["y"].to_numpy(), both["x"].to_numpy()
    if np.ptp(xs) <= 0 or np.ptp(ys) <= 0:
        raise InvalidInput("a pair needs prices that move", field="x")
    intercept, slope = hedge_ratio(ys, xs)
    result = coint(ys, xs, trend="c", autolag="aic")
    statistic, p_value, critical = (
        float(result.coint_t),
        float(result.pvalue),
        np.asarray(result.critical_values, dtype="float64"),
    )
    spread = ys - intercept - slope * xs
    mean = float(spread.mean())
    std = float(spread.std(ddof=1))
    ar_slope = fit_ar1(spread).slope
    half_life = math.log(2.0) / -math.log(ar_slope) if slope_reverts(ar_slope) else math.inf
    return Cointegration(
        hedge_ratio=slope,
        intercept=intercept,
        adf_statistic=statistic,
        p_value=p_value,
        critical_values={"1%": critical[0], "5%": critical[1], "10%": critical[2]},
        significance=significance,
        cointegrated=p_value < significance,
        spread_mean=mean,
        spread_std=std,
        z_score=(float(spread[-1]) - mean) / std if std > 0 else 0.0,
        half_life=half_life,
        observations=len(spread),
    )


def pair_spread(
    y: pd.Series, x: pd.Series, *, hedge_ratio: float, intercept: float, log_prices: bool = True
) -> pd.Series:
    """The spread ``y - intercept - hedge_ratio * x`` (of log prices by default) at common times.

    Returns
    -------
    pd.Series, shape (T,)
    """
    both = _aligned(y, x, log_prices)
    return (both["y"] - intercept - hedge_ratio * both["x"]).rename("spread")


def pairs_signal(
    y: pd.Series,
    x: pd.Series,
    *,
    asset: str,
    pair_asset: str,
    as_of: datetime,
    window: int | None = 250,
    significance: float = 0.05,
    max_half_life: float | None = None,
) -> Signal | None:
    """The pair's spread at ``as_of`` if the pair is cointegrated, else ``None``.

    ``asset`` names ``y`` and ``pair_asset`` names ``x``. The test uses the last ``window`` common
    timestamps at or before ``as_of`` (all of them when ``window`` is None). ``value = -z``:
    positive when the spread is cheap (long ``asset``, short ``hedge_ratio`` of ``pair_asset``),
    negative when rich. Confidence ``min(1, |z| / 3) * (1 - p_value / significance)``. No signal
    when the half-life exceeds ``max_half_life`` periods (default: half the rows used).
    """
    if asset == pair_asset:
        raise InvalidInput("a pair needs two different assets", field="pair_asset")
    y = up_to(require_series(y, name="y", positive=True), as_of, name="y")
    x = up_to(require_series(x, name="x", positive=True), as_of, name="x")
    both = pd.concat({"y": y, "x": x}, axis=1, join="inner")
    if window is not None:
        window = require_window(window, name="window", minimum=MIN_OBSERVATIONS)
        both = both.iloc[-window:]
    test = engle_granger(both["y"], both["x"], significance=significance)
    limit = len(both) / 2.0 if max_half_life is None else float(max_half_life)
    if not test.cointegrated or not test.half_life <= limit:
        return None
    confidence = min(1.0, abs(test.z_score) / 3.0) * max(0.0, 1.0 - test.p_value / significance)
    return Signal(
        asset=asset,
        kind=SignalKind.PAIR_SPREAD,
        value=-test.z_score,
        confidence=min(1.0, max(0.0, confidence)),
        as_of=as_of,
        window_start=to_datetime(both.index[0]),
        window_end=to_datetime(both.index[-1]),
        details={
            "pair_asset": pair_asset,
            "hedge_ratio": test.hedge_ratio,
            "intercept": test.intercept,
            "z_score": test.z_score,
            "adf_statistic": test.adf_statistic,
            "p_value": test.p_value,
            "half_life": test.half_life,
        },
    )
