"""No detector may look ahead: rewriting every row after t must leave what it says at t unchanged.

Each case builds its inputs, a detector call at ``as_of`` and a perturbation of the rows after
``as_of``. The same call on the perturbed inputs must give the identical signal; the call at the
last row must not (so the perturbation really reaches the detector).
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest

from signals.core.crossvenue import cross_venue_signal
from signals.core.divergence import sentiment_divergence, sentiment_divergence_signal
from signals.core.indicators import (
    atr,
    atr_signal,
    bollinger_bands,
    bollinger_signal,
    macd,
    macd_signal,
    rsi,
    rsi_signal,
)
from signals.core.meanreversion import mean_reversion, mean_reversion_signal
from signals.core.orderflow import (
    book_depth_imbalance,
    book_microprice,
    depth_imbalance_signal,
    microprice_signal,
    order_flow_imbalance,
    order_flow_imbalance_signal,
)
from signals.core.pairs import pairs_signal
from signals.core.regime import volatility_regime, volatility_regime_signal
from signals.core.types import Signal
from tests.signals.core.markets import START, ar1, days, ohlc_bars, order_book, random_walk_prices
from tests.signals.core.test_divergence import market

CUT = 400  # as_of is the timestamp of this row
SEED = 99


def scramble_prices(prices: pd.Series, as_of: pd.Timestamp, scale: float = 0.05) -> pd.Series:
    changed = prices.copy()
    after = changed.index > as_of
    changed[after] *= np.exp(np.random.default_rng(SEED).normal(0.0, scale, after.sum()))
    return changed


def scramble_bars(bars: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    changed = bars.copy()
    after = changed.index > as_of
    factor = np.exp(np.random.default_rng(SEED).normal(0.0, 0.05, after.sum()))
    changed.loc[after] = changed.loc[after].mul(factor, axis=0)
    return changed


def scramble_book(book: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    other = order_book(len(book), seed=1234, levels=3)
    other.index = book.index
    return book.where(book.index.to_series() <= as_of, other, axis=0)


def scramble_sentiment(sentiment: pd.Series, as_of: pd.Timestamp) -> pd.Series:
    """New noise after t, and a burst of good news on the last day."""
    changed = sentiment.copy()
    after = changed.index > as_of
    changed[after] += np.random.default_rng(SEED).normal(0.0, 0.05, after.sum())
    changed.iloc[-1] += 3.0
    return changed


@dataclass
class Case:
    name: str
    inputs: Callable[[], dict[str, Any]]
    detect: Callable[..., Signal | None]
    scramble: Callable[[dict[str, Any], pd.Timestamp], dict[str, Any]]


def prices_only(make):
    return lambda: {"close": make()}


def scramble_close(inputs, as_of):
    return {"close": scramble_prices(inputs["close"], as_of)}


def ou_close():
    close = pd.Series(np.exp(ar1(600, slope=0.8, noise=0.02, seed=5, mean=4.0)), index=days(600))
    close.iloc[CUT] = np.exp(3.9)  # well below equilibrium at as_of
    return close


def divergence_inputs():
    sentiment, close = market()
    sentiment = sentiment.copy()
    sentiment.iloc[CUT] += 1.5  # make it fire at as_of
    return {"sentiment": sentiment, "close": close}


def pair_inputs():
    x = random_walk_prices(600, seed=8, start_price=40.0)
    y = pd.Series(np.exp(0.1 + 1.2 * np.log(x) + ar1(600, slope=0.6, noise=0.01, seed=9)))
    y.index = x.index
    y.iloc[CUT] *= 1.04  # rich at as_of
    return {"y": y, "x": x}


def quote_inputs():
    stamps = pd.date_range(START, periods=600, freq="s")
    venue = np.where(np.arange(600) % 2 == 0, "alpha", "beta")
    mid = np.where(venue == "alpha", 100.0, 101.0) + np.random.default_rng(SEED).normal(
        0, 0.01, 600
    )
    return {
        "quotes": pd.DataFrame(
            {"venue": venue, "bid": mid - 0.05, "ask": mid + 0.05, "taker_fee_bps": 5.0},
            index=stamps,
        )
    }


def scramble_quotes(inputs, as_of):
    quotes = inputs["quotes"].copy()
    after = quotes.index > as_of
    mid = 100.0 + np.random.default_rng(SEED).normal(0, 2.0, after.sum())
    quotes.loc[after, "bid"] = mid - 0.05
    quotes.loc[after, "ask"] = mid + 0.05
    return {"quotes": quotes}


CASES = [
    Case("rsi", prices_only(lambda: random_walk_prices(600, seed=1)), rsi_signal, scramble_close),
    Case("macd", prices_only(lambda: random_walk_prices(600, seed=2)), macd_signal, scramble_close),
    Case(
        "bollinger",
        prices_only(lambda: random_walk_prices(600, seed=3)),
        bollinger_signal,
        scramble_close,
    ),
    Case(
        "atr",
        lambda: {"bars": ohlc_bars(random_walk_prices(600, seed=4), seed=4)},
        atr_signal,
        lambda inputs, as_of: {"bars": scramble_bars(inputs["bars"], as_of)},
    ),
    Case(
        "volatility_regime",
        prices_only(lambda: random_walk_prices(600, seed=5)),
        volatility_regime_signal,
        scramble_close,
    ),
    Case("mean_reversion", prices_only(ou_close), mean_reversion_signal, scramble_close),
    Case(
        "sentiment_divergence",
        divergence_inputs,
        sentiment_divergence_signal,
        lambda inputs, as_of: {
            "sentiment": scramble_sentiment(inputs["sentiment"], as_of),
            "close": scramble_prices(inputs["close"], as_of, scale=0.002),
        },
    ),
    Case(
        "pairs",
        pair_inputs,
        lambda **kw: pairs_signal(**kw, pair_asset="OTHER"),
        lambda inputs, as_of: {
            "y": scramble_prices(inputs["y"], as_of),
            "x": scramble_prices(inputs["x"], as_of),
        },
    ),
    Case(
        "depth_imbalance",
        lambda: {"book": order_book(600, seed=6)},
        depth_imbalance_signal,
        lambda inputs, as_of: {"book": scramble_book(inputs["book"], as_of)},
    ),
    Case(
        "microprice",
        lambda: {"book": order_book(600, seed=7)},
        microprice_signal,
        lambda inputs, as_of: {"book": scramble_book(inputs["book"], as_of)},
    ),
    Case(
        "order_flow_imbalance_by_count",
        lambda: {"book": order_book(600, seed=8), "window": 50, "levels": 3},
        order_flow_imbalance_signal,
        lambda inputs, as_of: {**inputs, "book": scramble_book(inputs["book"], as_of)},
    ),
    Case(
        "order_flow_imbalance_by_time",
        lambda: {"book": order_book(600, seed=9), "window": timedelta(seconds=30)},
        order_flow_imbalance_signal,
        lambda inputs, as_of: {**inputs, "book": scramble_book(inputs["book"], as_of)},
    ),
    Case(
        "cross_venue_gap",
        lambda: {**quote_inputs(), "transfer_cost": 1.0, "quantity": 100.0},
        cross_venue_signal,
        lambda inputs, as_of: {**inputs, **scramble_quotes(inputs, as_of)},
    ),
]


def data_index(inputs: dict[str, Any]) -> pd.DatetimeIndex:
    for value in inputs.values():
        if isinstance(value, pd.Series | pd.DataFrame):
            return value.index
    raise AssertionError("no timestamped input")


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_signal_at_t_ignores_every_row_after_t(case):
    inputs = case.inputs()
    index = data_index(inputs)
    as_of = index[CUT]
    scrambled = case.scramble(inputs, as_of)

    at_t = case.detect(**inputs, asset="ASSET", as_of=as_of.to_pydatetime())
    assert at_t is not None, "the case must produce a signal at t to be a real test"
    assert at_t.window_end <= as_of
    again = case.detect(**scrambled, asset="ASSET", as_of=as_of.to_pydatetime())
    assert again == at_t

    end = index[-1].to_pydatetime()
    assert case.detect(**inputs, asset="ASSET", as_of=end) != case.detect(
        **scrambled, asset="ASSET", as_of=end
    ), "the perturbation must reach the detector"


SERIES_CASES = [
    ("rsi", lambda close: rsi(close).to_frame()),
    ("macd", macd),
    ("bollinger", bollinger_bands),
    ("volatility_regime", volatility_regime),
    ("mean_reversion", lambda close: mean_reversion(close, window=60)),
]


@pytest.mark.parametrize(("name", "compute"), SERIES_CASES, ids=[c[0] for c in SERIES_CASES])
def test_series_up_to_t_ignore_rows_after_t(name, compute):
    close = ou_close() if name == "mean_reversion" else random_walk_prices(600, seed=10)
    as_of = close.index[CUT]
    full = compute(close)
    scrambled = compute(scramble_prices(close, as_of))
    pd.testing.assert_frame_equal(full.iloc[: CUT + 1], scrambled.iloc[: CUT + 1])
    assert not full.iloc[CUT + 1 :].equals(scrambled.iloc[CUT + 1 :])


def test_atr_and_divergence_and_book_series_ignore_rows_after_t():
    bars = ohlc_bars(random_walk_prices(600, seed=11), seed=11)
    as_of = bars.index[CUT]
    pd.testing.assert_series_equal(
        atr(bars).iloc[: CUT + 1], atr(scramble_bars(bars, as_of)).iloc[: CUT + 1]
    )

    inputs = divergence_inputs()
    as_of = inputs["close"].index[CUT]
    full = sentiment_divergence(inputs["sentiment"], inputs["close"])
    scrambled = sentiment_divergence(
        scramble_sentiment(inputs["sentiment"], as_of), scramble_prices(inputs["close"], as_of)
    )
    pd.testing.assert_frame_equal(full.iloc[: CUT + 1], scrambled.iloc[: CUT + 1])

    book = order_book(600, seed=12)
    as_of = book.index[CUT]
    changed = scramble_book(book, as_of)
    for compute in (
        book_depth_imbalance,
        book_microprice,
        lambda b: order_flow_imbalance(b, window="20s", levels=3),
    ):
        full_table = pd.DataFrame(compute(book))
        changed_table = pd.DataFrame(compute(changed))
        pd.testing.assert_frame_equal(full_table.iloc[: CUT + 1], changed_table.iloc[: CUT + 1])
