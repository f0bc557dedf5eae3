"""Sentiment-price divergence: news sentiment that the price has not yet followed.

With ``S`` the aggregated sentiment score and ``P'`` the standardised recent return, the detector
fits ``S = alpha + beta * P'`` by rolling least squares over the trailing window and measures the
gap ``S - (alpha + beta * P')``. It fires when ``|gap| > theta``, where ``theta`` is a multiple of
the regression's residual dispersion. Both adapt to the volatility regime: the regression at t only
uses the trailing rows that were in the same regime as t (falling back to all trailing rows when
too few were), and the multiple is larger in high-volatility regimes, where sentiment and price
decouple more often by chance. The fit at t uses rows strictly before t, so the gap at t is
measured against a relationship that was already known, never against one fitted to t itself.

The intercept is part of the fit because aggregated news sentiment usually leans positive; the
gap therefore reads ``S - beta * P'`` measured from the sentiment's own trailing level.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime

import numpy as np
import pandas as pd

from portfolios.core.errors import InvalidInput
from signals.core.regime import volatility_regime
from signals.core.timeseries import require_series, require_window, to_datetime, up_to
from signals.core.types import Signal, SignalKind, VolatilityRegime

DEFAULT_THRESHOLD_MULTIPLES: Mapping[VolatilityRegime, float] = {
    VolatilityRegime.LOW: 1.75,
    VolatilityRegime.NORMAL: 2.0,
    VolatilityRegime.HIGH: 2.75,
}


def align_sentiment(sentiment: pd.Series, index: pd.DatetimeIndex) -> pd.Series:
    """The latest sentiment score known at each timestamp of ``index`` (missing before the first).

    Parameters
    ----------
    sentiment : pd.Series, shape (M,)
        Aggregated scores indexed by the time they became known.
    index : pd.DatetimeIndex, shape (T,)
        The price timestamps.
    """
    sentiment = require_series(sentiment, name="sentiment")
    union = sentiment.index.union(index)
    return sentiment.reindex(union).ffill().reindex(index).rename("sentiment")


def _rolling_fit(
    score: pd.Series, standardised: pd.Series, mask: pd.Series, window: int
) -> pd.DataFrame:
    """Least squares of score on standardised return over the ``window`` rows before each t,
    counting only rows where ``mask`` holds."""
    use = mask & score.notna() & standardised.notna()
    weight = use.astype("float64")
    s = score.where(use, 0.0)
    p = standardised.where(use, 0.0)
    sums = pd.DataFrame({"n": weight, "s": s, "p": p, "sp": s * p, "pp": p * p, "ss": s * s})
    totals = sums.rolling(window, min_periods=1).sum().shift(1)
    n = totals["n"]
    safe_n = n.where(n > 0)
    sxx = totals["pp"] - totals["p"] ** 2 / safe_n
    syy = totals["ss"] - totals["s"] ** 2 / safe_n
    sxy = totals["sp"] - totals["s"] * totals["p"] / safe_n
    beta = sxy / sxx.where(sxx > 1e-12)
    alpha = (totals["s"] - beta * totals["p"]) / safe_n
    residual = (syy - beta * sxy).clip(lower=0.0) / (n - 2).where(n > 2)
    r_squared = (beta * sxy / syy.where(syy > 1e-12)).clip(0.0, 1.0)
    return pd.DataFrame(
        {
            "n": n,
            "alpha": alpha,
            "beta": beta,
            "residual_dispersion": np.sqrt(residual),
            "r_squared": r_squared,
        }
    )


def sentiment_divergence(
    sentiment: pd.Series,
    close: pd.Series,
    *,
    return_window: int = 5,
    window: int = 60,
    min_regime_observations: int = 20,
    threshold_multiples: Mapping[VolatilityRegime, float] = DEFAULT_THRESHOLD_MULTIPLES,
    regime_window: int = 20,
    regime_lookback: int = 252,
) -> pd.DataFrame:
    """The divergence between sentiment and the recent return at every price timestamp.

    Parameters
    ----------
    sentiment : pd.Series, shape (M,)
        Aggregated sentiment scores indexed by the time they became known (any timestamps; the
        latest one at or before each price row is used).
    close : pd.Series, shape (T,)
        Positive prices indexed by timestamp.
    return_window : int
        Rows in the recent log return ``P`` (5).
    window : int
        Rows in the trailing window that standardises ``P`` and fits ``beta`` (60).
    min_regime_observations : int
        Same-regime rows the fit needs before it stops pooling all regimes (20).
    threshold_multiples : Mapping[VolatilityRegime, float]
        ``theta / residual dispersion`` per regime, widening with volatility.
    regime_window, regime_lookback : int
        Parameters of :func:`~signals.core.regime.volatility_regime`.

    Returns
    -------
    pd.DataFrame, shape (T, 13)
        ``sentiment``, ``standardised_return``, ``regime`` (-1, 0, 1; normal during warm-up),
        ``within_regime`` (whether the fit used same-regime rows only), ``observations`` (rows
        in the fit), ``alpha``, ``beta``, ``r_squared``, ``residual_dispersion``, ``threshold``,
        ``gap``, ``value`` (``sign(gap) * |gap| / dispersion`` where the detector fires, else 0) and
        ``confidence`` (``1 - theta / |gap|`` where it fires, else 0). It fires only where the
        fitted ``beta`` is positive: the price is known to follow sentiment, so it should move
        the way of the gap's sign to close it.
    """
    close = require_series(close, name="close", positive=True)
    return_window = require_window(return_window, name="return_window", minimum=1)
    window = require_window(window, name="window", minimum=5)
    min_regime_observations = require_window(
        min_regime_observations, name="min_regime_observations", minimum=3
    )
    multiples = {regime: float(threshold_multiples[regime]) for regime in VolatilityRegime}
    if any(not (math.isfinite(m) and m > 0) for m in multiples.values()):
        raise InvalidInput("threshold multiples must be positive", field="threshold_multiples")

    score = align_sentiment(sentiment, close.index)
    recent = np.log(close).diff(return_window)
    trailing = recent.rolling(window, min_periods=window)
    scale = trailing.std(ddof=1)
    standardised = ((recent - trailing.mean()) / scale.where(scale > 0)).rename(
        "standardised_return"
    )
    regime = (
        volatility_regime(close, window=regime_window, lookback=regime_lookback)["regime"]
        .fillna(0.0)
        .rename("regime")
    )

    pooled = _rolling_fit(score, standardised, pd.Series(True, index=close.index), window)
    fit = pooled.copy()
    within_regime = pd.Series(False, index=close.index)
    for code in (-1.0, 0.0, 1.0):
        own = _rolling_fit(score, standardised, regime == code, window)
        chosen = (regime == code) & (own["n"] >= min_regime_observations)
        fit.loc[chosen] = own.loc[chosen]
        within_regime |= chosen
    fit.loc[~(pooled["n"] >= min_regime_observations)] = np.nan

    multiple = regime.map({float(r.code): multiples[r] for r in VolatilityRegime})
    threshold = multiple * fit["residual_dispersion"]
    gap = score - (fit["alpha"] + fit["beta"] * standardised)
    fires = (gap.abs() > threshold) & (fit["beta"] > 0) & (fit["residual_dispersion"] > 0)
    fires = fires.fillna(False).astype(bool)
    dispersion = fit["residual_dispersion"].where(fires)
    value = (gap / dispersion).where(fires, 0.0)
    confidence = (1.0 - threshold / gap.abs().where(fires)).where(fires, 0.0).clip(0.0, 1.0)
    return pd.DataFrame(
        {
            "sentiment": score,
            "standardised_return": standardised,
            "regime": regime,
            "within_regime": within_regime,
            "observations": fit["n"],
            "alpha": fit["alpha"],
            "beta": fit["beta"],
            "r_squared": fit["r_squared"],
            "residual_dispersion": fit["residual_dispersion"],
            "threshold": threshold,
            "gap": gap,
            "value": value,
            "confidence": confidence,
        },
        index=close.index,
    )


def sentiment_divergence_signal(
    sentiment: pd.Series,
    close: pd.Series,
    *,
    asset: str,
    as_of: datetime,
    return_window: int = 5,
    window: int = 60,
    min_regime_observations: int = 20,
    threshold_multiples: Mapping[VolatilityRegime, float] = DEFAULT_THRESHOLD_MULTIPLES,
    regime_window: int = 20,
    regime_lookback: int = 252,
) -> Signal | None:
    """The sentiment-price divergence at ``as_of``, or ``None`` when there is none.

    Sentiment and prices after ``as_of`` are ignored. ``value`` is the gap in residual
    dispersions, positive when sentiment says the price should rise. See
    :func:`sentiment_divergence` for the parameters.
    """
    close = up_to(require_series(close, name="close", positive=True), as_of, name="close")
    sentiment = up_to(require_series(sentiment, name="sentiment"), as_of, name="sentiment")
    table = sentiment_divergence(
        sentiment,
        close,
        return_window=return_window,
        window=window,
        min_regime_observations=min_regime_observations,
        threshold_multiples=threshold_multiples,
        regime_window=regime_window,
        regime_lookback=regime_lookback,
    )
    last = table.iloc[-1]
    if last["value"] == 0.0:
        return None
    used = min(len(close), max(return_window + 2 * window + 1, regime_window + regime_lookback))
    start = close.index[-used]
    known = sentiment.index[sentiment.index <= start]
    if len(known):
        start = min(start, known[-1])
    return Signal(
        asset=asset,
        kind=SignalKind.SENTIMENT_DIVERGENCE,
        value=float(last["value"]),
        confidence=float(last["confidence"]),
        as_of=as_of,
        window_start=to_datetime(start),
        window_end=to_datetime(max(close.index[-1], sentiment.index[-1])),
        details={
            "sentiment": float(last["sentiment"]),
            "standardised_return": float(last["standardised_return"]),
            "beta": float(last["beta"]),
            "alpha": float(last["alpha"]),
            "gap": float(last["gap"]),
            "threshold": float(last["threshold"]),
            "regime": VolatilityRegime.from_code(last["regime"]).value,
        },
    )
