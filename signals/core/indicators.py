"""Classic price indicators: RSI, MACD, Bollinger bands and ATR, as series and as signals.

All series functions are causal (the value at t uses rows at or before t) and vectorised: Wilder's
recursion runs as an exponential average with ``alpha = 1/n`` seeded with the simple mean of the
first ``n`` values, exactly as Wilder defined it.
"""

from __future__ import annotations

import math
from datetime import datetime

import numpy as np
import pandas as pd

from portfolios.core.errors import InvalidInput
from signals.core.timeseries import (
    require_frame,
    require_series,
    require_window,
    to_datetime,
    up_to,
)
from signals.core.types import Signal, SignalKind


def wilder_average(values: pd.Series, period: int) -> pd.Series:
    """Wilder's smoothed average: the mean of the first ``period`` values, then
    ``avg_t = avg_{t-1} + (x_t - avg_{t-1}) / period``.

    Parameters
    ----------
    values : pd.Series, shape (T,)
        Leading missing values (such as the first difference) are skipped.
    period : int
        Smoothing length n.

    Returns
    -------
    pd.Series, shape (T,)
        Missing until ``period`` values have been seen.
    """
    period = require_window(period, name="period", minimum=1)
    valid = values.notna().to_numpy()
    result = pd.Series(np.nan, index=values.index, dtype="float64")
    if valid.sum() < period:
        return result
    first = int(valid.argmax())
    seed_at = first + period - 1
    seeded = values.astype("float64").copy()
    seeded.iloc[:seed_at] = np.nan
    seeded.iloc[seed_at] = float(values.iloc[first : seed_at + 1].mean())
    return seeded.ewm(alpha=1.0 / period, adjust=False).mean()


def rsi(close: pd.Series, period: int = 14) -> pd.Series:
    """Relative strength index with Wilder's smoothing, in [0, 100].

    Parameters
    ----------
    close : pd.Series, shape (T,)
        Closing prices indexed by timestamp.
    period : int
        Wilder length (14).

    Returns
    -------
    pd.Series, shape (T,)
        ``100 * avg_gain / (avg_gain + avg_loss)``; missing for the first ``period`` rows, 50 when
        the price has not moved at all over the average.
    """
    close = require_series(close, name="close", positive=True)
    period = require_window(period, name="period", minimum=1)
    change = close.diff()
    average_gain = wilder_average(change.clip(lower=0.0), period)
    average_loss = wilder_average((-change).clip(lower=0.0), period)
    total = average_gain + average_loss
    value = 100.0 * average_gain / total.where(total > 0)
    return value.where(~(total == 0), 50.0).rename("rsi")


def macd(close: pd.Series, fast: int = 12, slow: int = 26, signal: int = 9) -> pd.DataFrame:
    """Moving-average convergence/divergence from exponential averages of the close.

    Each average is ``ema_t = a * x_t + (1 - a) * ema_{t-1}`` with ``a = 2 / (span + 1)``, seeded
    with the first close.

    Parameters
    ----------
    close : pd.Series, shape (T,)
    fast, slow, signal : int
        Spans of the fast and slow averages and of the signal line (12, 26, 9).

    Returns
    -------
    pd.DataFrame, shape (T, 3)
        Columns ``macd`` (fast minus slow average), ``signal`` (average of ``macd``) and
        ``histogram`` (``macd - signal``); missing until ``slow`` rows (``macd``) and
        ``slow + signal - 1`` rows (the others) have been seen.
    """
    close = require_series(close, name="close", positive=True)
    fast = require_window(fast, name="fast", minimum=1)
    slow = require_window(slow, name="slow", minimum=1)
    signal = require_window(signal, name="signal", minimum=1)
    if fast >= slow:
        raise InvalidInput(f"fast span {fast} must be shorter than slow span {slow}", field="fast")
    line = close.ewm(span=fast, adjust=False).mean() - close.ewm(span=slow, adjust=False).mean()
    line.iloc[: slow - 1] = np.nan
    signal_line = line.ewm(span=signal, adjust=False).mean()
    signal_line.iloc[: slow + signal - 2] = np.nan
    return pd.DataFrame(
        {"macd": line, "signal": signal_line, "histogram": line - signal_line}, index=close.index
    )


def bollinger_bands(close: pd.Series, period: int = 20, width: float = 2.0) -> pd.DataFrame:
    """Bollinger bands: a moving average plus and minus ``width`` population standard deviations.

    Parameters
    ----------
    close : pd.Series, shape (T,)
    period : int
        Rows in the moving window (20).
    width : float
        Band half-width in standard deviations (2).

    Returns
    -------
    pd.DataFrame, shape (T, 5)
        ``middle``, ``upper``, ``lower``, ``percent_b`` (``(close - lower) / (upper - lower)``,
        0.5 when the bands have zero width) and ``bandwidth`` (``(upper - lower) / middle``).
    """
    close = require_series(close, name="close", positive=True)
    period = require_window(period, name="period", minimum=2)
    if not (math.isfinite(width) and width > 0):
        raise InvalidInput(f"band width must be positive, got {width!r}", field="width")
    rolling = close.rolling(period, min_periods=period)
    middle = rolling.mean()
    deviation = rolling.std(ddof=0)
    upper = middle + width * deviation
    lower = middle - width * deviation
    spread = upper - lower
    percent_b = ((close - lower) / spread.where(spread > 0)).where(~(spread == 0), 0.5)
    return pd.DataFrame(
        {
            "middle": middle,
            "upper": upper,
            "lower": lower,
            "percent_b": percent_b,
            "bandwidth": spread / middle,
        },
        index=close.index,
    )


def true_range(bars: pd.DataFrame) -> pd.Series:
    """``max(high - low, |high - previous close|, |low - previous close|)``; ``high - low`` first.

    Parameters
    ----------
    bars : pd.DataFrame, shape (T, >=3)
        Columns ``high``, ``low`` and ``close`` indexed by timestamp.
    """
    bars = _require_bars(bars)
    previous_close = bars["close"].shift(1)
    ranges = pd.concat(
        [
            bars["high"] - bars["low"],
            (bars["high"] - previous_close).abs(),
            (bars["low"] - previous_close).abs(),
        ],
        axis=1,
    )
    return ranges.max(axis=1, skipna=True).rename("true_range")


def atr(bars: pd.DataFrame, period: int = 14) -> pd.Series:
    """Average true range with Wilder's smoothing, in price units.

    Parameters
    ----------
    bars : pd.DataFrame, shape (T, >=3)
        Columns ``high``, ``low`` and ``close`` indexed by timestamp.
    period : int
        Wilder length (14).

    Returns
    -------
    pd.Series, shape (T,)
        Missing for the first ``period - 1`` rows.
    """
    period = require_window(period, name="period", minimum=1)
    return wilder_average(true_range(bars), period).rename("atr")


def _require_bars(bars: pd.DataFrame) -> pd.DataFrame:
    bars = require_frame(bars, name="bars", columns=("high", "low", "close"))
    if (bars.to_numpy() <= 0).any():
        raise InvalidInput("bars must hold positive prices", field="bars")
    inverted = bars["high"] < bars["low"]
    if inverted.any():
        raise InvalidInput(f"bar at {bars.index[inverted][0]} has high below low", field="bars")
    outside = (bars["close"] > bars["high"]) | (bars["close"] < bars["low"])
    if outside.any():
        raise InvalidInput(
            f"bar at {bars.index[outside][0]} closes outside its high-low range", field="bars"
        )
    return bars


def _clip01(value: float) -> float:
    return float(min(1.0, max(0.0, value)))


def _last(series: pd.Series, *, what: str, rows: int) -> float:
    value = series.iloc[-1]
    if pd.isna(value):
        raise InvalidInput(f"{what} needs at least {rows} rows of data", field="close")
    return float(value)


def rsi_signal(close: pd.Series, *, asset: str, as_of: datetime, period: int = 14) -> Signal:
    """An RSI reading as a contrarian signal at ``as_of``.

    ``value = (50 - RSI) / 50`` in [-1, 1] (positive when oversold: the price is expected to rise);
    confidence ``|RSI - 50| / 50``. Rows after ``as_of`` are ignored.
    """
    close = up_to(require_series(close, name="close", positive=True), as_of, name="close")
    reading = _last(rsi(close, period), what="RSI", rows=period + 1)
    return Signal(
        asset=asset,
        kind=SignalKind.RSI,
        value=(50.0 - reading) / 50.0,
        confidence=_clip01(abs(reading - 50.0) / 50.0),
        as_of=as_of,
        window_start=to_datetime(close.index[0]),
        window_end=to_datetime(close.index[-1]),
        details={"rsi": reading, "period": period},
    )


def macd_signal(
    close: pd.Series,
    *,
    asset: str,
    as_of: datetime,
    fast: int = 12,
    slow: int = 26,
    signal: int = 9,
) -> Signal:
    """The MACD histogram as a momentum signal at ``as_of``.

    ``value`` is the histogram as a fraction of the close (positive: upward momentum); confidence
    is ``tanh(|histogram| / s)`` with ``s`` the standard deviation of the histogram so far.
    """
    close = up_to(require_series(close, name="close", positive=True), as_of, name="close")
    lines = macd(close, fast, slow, signal)
    histogram = _last(lines["histogram"], what="MACD", rows=slow + signal - 1)
    history = lines["histogram"].dropna()
    scale = float(history.std(ddof=0)) if len(history) > 1 else 0.0
    confidence = math.tanh(abs(histogram) / scale) if scale > 0 else 0.0
    return Signal(
        asset=asset,
        kind=SignalKind.MACD,
        value=histogram / float(close.iloc[-1]),
        confidence=_clip01(confidence),
        as_of=as_of,
        window_start=to_datetime(close.index[0]),
        window_end=to_datetime(close.index[-1]),
        details={
            "macd": float(lines["macd"].iloc[-1]),
            "signal": float(lines["signal"].iloc[-1]),
            "histogram": histogram,
            "spans": (fast, slow, signal),
        },
    )


def bollinger_signal(
    close: pd.Series, *, asset: str, as_of: datetime, period: int = 20, width: float = 2.0
) -> Signal:
    """The position inside the Bollinger bands as a contrarian signal at ``as_of``.

    ``value = 0.5 - %b`` (positive near or under the lower band); confidence ``2 |%b - 0.5|``
    capped at 1 (1 at or beyond a band).
    """
    close = up_to(require_series(close, name="close", positive=True), as_of, name="close")
    bands = bollinger_bands(close, period, width)
    percent_b = _last(bands["percent_b"], what="Bollinger bands", rows=period)
    last = bands.iloc[-1]
    return Signal(
        asset=asset,
        kind=SignalKind.BOLLINGER,
        value=0.5 - percent_b,
        confidence=_clip01(2.0 * abs(percent_b - 0.5)),
        as_of=as_of,
        window_start=to_datetime(close.index[-period]),
        window_end=to_datetime(close.index[-1]),
        details={
            "percent_b": percent_b,
            "middle": float(last["middle"]),
            "upper": float(last["upper"]),
            "lower": float(last["lower"]),
            "bandwidth": float(last["bandwidth"]),
        },
    )


def atr_signal(bars: pd.DataFrame, *, asset: str, as_of: datetime, period: int = 14) -> Signal:
    """The average true range at ``as_of`` (a measure of volatility, no direction).

    ``value`` is the ATR in price units; ``details["atr_fraction"]`` is it over the last close.
    """
    bars = up_to(_require_bars(bars), as_of, name="bars")
    reading = _last(atr(bars, period), what="ATR", rows=period)
    close = float(bars["close"].iloc[-1])
    return Signal(
        asset=asset,
        kind=SignalKind.ATR,
        value=reading,
        confidence=1.0,
        as_of=as_of,
        window_start=to_datetime(bars.index[0]),
        window_end=to_datetime(bars.index[-1]),
        details={"atr_fraction": reading / close, "period": period},
    )
