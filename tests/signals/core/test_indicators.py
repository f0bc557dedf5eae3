import itertools
import math

import numpy as np
import pandas as pd
import pytest

from portfolios.core.errors import InvalidInput
from signals.core.indicators import (
    atr,
    atr_signal,
    bollinger_bands,
    bollinger_signal,
    macd,
    macd_signal,
    rsi,
    rsi_signal,
    true_range,
    wilder_average,
)
from signals.core.types import SignalKind
from tests.signals.core.markets import days, ohlc_bars, random_walk_prices


def series(values):
    return pd.Series(np.asarray(values, dtype=float), index=days(len(values)))


# Straightforward loop implementations, as the textbooks write them.


def wilder_reference(values, period):
    out = [math.nan] * len(values)
    average = sum(values[:period]) / period
    out[period - 1] = average
    for i in range(period, len(values)):
        average = (average * (period - 1) + values[i]) / period
        out[i] = average
    return out


def rsi_reference(closes, period):
    changes = [b - a for a, b in itertools.pairwise(closes)]
    gains = wilder_reference([max(c, 0.0) for c in changes], period)
    losses = wilder_reference([max(-c, 0.0) for c in changes], period)
    out = [math.nan]
    for gain, loss in zip(gains, losses, strict=True):
        if math.isnan(gain):
            out.append(math.nan)
        elif loss == 0:
            out.append(100.0 if gain > 0 else 50.0)
        else:
            out.append(100.0 - 100.0 / (1.0 + gain / loss))
    return out


def ema_reference(values, span):
    alpha = 2.0 / (span + 1.0)
    out = [values[0]]
    for value in values[1:]:
        out.append(alpha * value + (1 - alpha) * out[-1])
    return out


def test_rsi_by_hand():
    # changes +1, +1, -1, +2; period 3: gains (1, 1, 0) -> 2/3, losses (0, 0, 1) -> 1/3,
    # RSI = 100 * (2/3) / 1 = 66.67; next: gain (2/3 * 2 + 2) / 3 = 10/9, loss (1/3 * 2) / 3 = 2/9,
    # RSI = 100 * (10/9) / (12/9) = 83.33.
    values = rsi(series([10, 11, 12, 11, 13]), period=3)
    assert values.iloc[:3].isna().all()
    assert values.iloc[3] == pytest.approx(200.0 / 3.0)
    assert values.iloc[4] == pytest.approx(250.0 / 3.0)


def test_rsi_matches_the_loop_and_stays_in_range():
    close = random_walk_prices(300, seed=3)
    values = rsi(close, period=14)
    reference = rsi_reference(close.tolist(), 14)
    np.testing.assert_allclose(values.to_numpy(), reference, rtol=1e-10, equal_nan=True)
    assert values.dropna().between(0.0, 100.0).all()


def test_rsi_edges():
    assert rsi(series(np.arange(1, 30)), period=14).iloc[-1] == pytest.approx(100.0)
    assert rsi(series(np.arange(30, 1, -1)), period=14).iloc[-1] == pytest.approx(0.0)
    assert rsi(series([5.0] * 20), period=14).iloc[-1] == pytest.approx(50.0)


def test_wilder_average_equals_the_recursion():
    values = pd.Series([np.nan, 2.0, 4.0, 6.0, 3.0, 1.0, 7.0], index=days(7))
    expected = [math.nan, *wilder_reference([2.0, 4.0, 6.0, 3.0, 1.0, 7.0], 3)]
    np.testing.assert_allclose(wilder_average(values, 3), expected, equal_nan=True)


def test_macd_by_hand():
    # spans 2 (a = 2/3) and 3 (a = 1/2) on 1, 2, 3, 4:
    # fast 1, 5/3, 23/9, 95/27; slow 1, 3/2, 9/4, 25/8; MACD from the 3rd row: 11/36, 85/216.
    # signal span 2 seeded with 11/36: 2/3 * 85/216 + 1/3 * 11/36 = 236/648; histogram 19/648.
    lines = macd(series([1, 2, 3, 4]), fast=2, slow=3, signal=2)
    assert lines["macd"].iloc[:2].isna().all()
    assert lines["macd"].iloc[2] == pytest.approx(11 / 36)
    assert lines["macd"].iloc[3] == pytest.approx(85 / 216)
    assert lines["signal"].iloc[:3].isna().all()
    assert lines["signal"].iloc[3] == pytest.approx(236 / 648)
    assert lines["histogram"].iloc[3] == pytest.approx(19 / 648)


def test_macd_matches_the_loop():
    close = random_walk_prices(200, seed=4)
    lines = macd(close)
    fast = ema_reference(close.tolist(), 12)
    slow = ema_reference(close.tolist(), 26)
    line = [f - s for f, s in zip(fast, slow, strict=True)]
    signal = ema_reference(line[25:], 9)
    np.testing.assert_allclose(lines["macd"].iloc[25:], line[25:], rtol=1e-12)
    np.testing.assert_allclose(lines["signal"].iloc[33:], signal[8:], rtol=1e-12)
    assert lines["signal"].iloc[:33].isna().all()


def test_bollinger_by_hand_and_against_the_loop():
    # 1, 2, 3 with period 3: mean 2, population sd sqrt(2/3), bands 2 +- 2 sqrt(2/3);
    # %b of the close 3 = (3 - lower) / (upper - lower) = (1 + 2 sqrt(2/3)) / (4 sqrt(2/3)).
    bands = bollinger_bands(series([1, 2, 3]), period=3)
    sd = math.sqrt(2 / 3)
    assert bands["upper"].iloc[-1] == pytest.approx(2 + 2 * sd)
    assert bands["lower"].iloc[-1] == pytest.approx(2 - 2 * sd)
    assert bands["percent_b"].iloc[-1] == pytest.approx((1 + 2 * sd) / (4 * sd))

    close = random_walk_prices(80, seed=5)
    bands = bollinger_bands(close)
    for t in range(19, 80):
        window = close.iloc[t - 19 : t + 1].to_numpy()
        middle, sd = window.mean(), window.std()
        assert bands["middle"].iloc[t] == pytest.approx(middle)
        assert bands["upper"].iloc[t] == pytest.approx(middle + 2 * sd)
        expected_b = (close.iloc[t] - (middle - 2 * sd)) / (4 * sd)
        assert bands["percent_b"].iloc[t] == pytest.approx(expected_b)
    assert bands["middle"].iloc[:19].isna().all()


def test_bollinger_on_a_flat_price_puts_percent_b_in_the_middle():
    assert bollinger_bands(series([10.0] * 25))["percent_b"].iloc[-1] == 0.5


def test_atr_by_hand():
    # true ranges: 2 (first bar: high - low), 2, 2, and 3 (gap up: |14 - 11| beats 14 - 13 = 1).
    # Wilder with period 2: mean(2, 2) = 2, (2 + 2) / 2 = 2, (2 + 3) / 2 = 2.5.
    bars = pd.DataFrame(
        {"high": [10, 11, 12, 14], "low": [8, 9, 10, 13], "close": [9, 10.5, 11, 13.5]},
        index=days(4),
        dtype=float,
    )
    assert true_range(bars).tolist() == [2.0, 2.0, 2.0, 3.0]
    values = atr(bars, period=2)
    assert math.isnan(values.iloc[0])
    assert values.iloc[1:].tolist() == pytest.approx([2.0, 2.0, 2.5])


def test_atr_matches_the_loop():
    bars = ohlc_bars(random_walk_prices(120, seed=6), seed=6)
    high, low, close = (bars[c].tolist() for c in ("high", "low", "close"))
    ranges = [high[0] - low[0]] + [
        max(high[i] - low[i], abs(high[i] - close[i - 1]), abs(low[i] - close[i - 1]))
        for i in range(1, len(close))
    ]
    np.testing.assert_allclose(atr(bars), wilder_reference(ranges, 14), equal_nan=True)


def test_bars_must_be_consistent():
    bars = pd.DataFrame({"high": [9.0], "low": [10.0], "close": [9.5]}, index=days(1))
    with pytest.raises(InvalidInput, match="high below low"):
        atr(bars)
    bars = pd.DataFrame({"high": [11.0], "low": [10.0], "close": [12.0]}, index=days(1))
    with pytest.raises(InvalidInput, match="outside"):
        atr(bars)


def test_indicator_signals():
    close = random_walk_prices(200, seed=7)
    as_of = close.index[150].to_pydatetime()

    signal = rsi_signal(close, asset="AAPL", as_of=as_of)
    reading = rsi(close.iloc[:151]).iloc[-1]
    assert signal.kind is SignalKind.RSI
    assert signal.value == pytest.approx((50 - reading) / 50)
    assert signal.confidence == pytest.approx(abs(reading - 50) / 50)
    assert signal.window_end == as_of
    assert signal.window_start == close.index[0]

    signal = macd_signal(close, asset="AAPL", as_of=as_of)
    histogram = macd(close.iloc[:151])["histogram"].iloc[-1]
    assert signal.value == pytest.approx(histogram / close.iloc[150])
    assert 0.0 <= signal.confidence <= 1.0

    signal = bollinger_signal(close, asset="AAPL", as_of=as_of)
    percent_b = bollinger_bands(close.iloc[:151])["percent_b"].iloc[-1]
    assert signal.value == pytest.approx(0.5 - percent_b)
    assert signal.window_start == close.index[131]

    bars = ohlc_bars(close, seed=7)
    signal = atr_signal(bars, asset="AAPL", as_of=as_of)
    assert signal.value == pytest.approx(atr(bars.iloc[:151]).iloc[-1])
    assert not signal.kind.directional


def test_indicator_signals_need_enough_data():
    close = random_walk_prices(10, seed=8)
    with pytest.raises(InvalidInput, match="at least 15 rows"):
        rsi_signal(close, asset="AAPL", as_of=close.index[-1].to_pydatetime())
