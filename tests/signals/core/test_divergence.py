import numpy as np
import pandas as pd
import pytest

from signals.core.divergence import (
    DEFAULT_THRESHOLD_MULTIPLES,
    align_sentiment,
    sentiment_divergence,
    sentiment_divergence_signal,
)
from signals.core.regime import volatility_regime
from signals.core.types import SignalKind, VolatilityRegime
from tests.signals.core.markets import days, random_walk_prices

COUNT = 500


def standardised_return(close: pd.Series, window: int = 60) -> pd.Series:
    recent = np.log(close).diff(5)
    trailing = recent.rolling(window)
    return (recent - trailing.mean()) / trailing.std()


def market(seed: int = 61, beta: float = 0.4, noise: float = 0.1):
    close = random_walk_prices(COUNT, seed=seed)
    rng = np.random.default_rng(seed + 1)
    sentiment = beta * standardised_return(close).fillna(0.0) + rng.normal(0, noise, COUNT)
    return sentiment, close


def test_sentiment_running_ahead_of_the_price_fires_in_its_direction():
    sentiment, close = market()
    as_of = close.index[-1].to_pydatetime()
    quiet = sentiment_divergence_signal(sentiment, close, asset="XOM", as_of=as_of)
    assert quiet is None

    bullish = sentiment.copy()
    bullish.iloc[-1] += 1.5  # good news the price has not reacted to
    signal = sentiment_divergence_signal(bullish, close, asset="XOM", as_of=as_of)
    assert signal is not None
    assert signal.kind is SignalKind.SENTIMENT_DIVERGENCE
    assert signal.value > 0
    assert 0.5 < signal.confidence <= 1
    assert signal.details["beta"] == pytest.approx(0.4, abs=0.1)
    assert signal.details["gap"] > signal.details["threshold"]
    assert signal.window_end == as_of

    bearish = sentiment.copy()
    bearish.iloc[-1] -= 1.5
    signal = sentiment_divergence_signal(bearish, close, asset="XOM", as_of=as_of)
    assert signal is not None
    assert signal.value < 0


def test_the_fit_at_t_is_made_before_t():
    sentiment, close = market()
    shocked = sentiment.copy()
    shocked.iloc[-1] += 5.0
    before = sentiment_divergence(sentiment, close).iloc[-1]
    after = sentiment_divergence(shocked, close).iloc[-1]
    for column in ("alpha", "beta", "residual_dispersion", "threshold"):
        assert before[column] == after[column]
    assert after["gap"] == pytest.approx(before["gap"] + 5.0)


def test_threshold_widens_with_the_volatility_regime():
    sentiment, close = market()
    table = sentiment_divergence(sentiment, close).dropna()
    ratio = table["threshold"] / table["residual_dispersion"]
    for regime in VolatilityRegime:
        rows = table["regime"] == regime.code
        assert rows.any()
        np.testing.assert_allclose(ratio[rows], DEFAULT_THRESHOLD_MULTIPLES[regime])
    assert (
        DEFAULT_THRESHOLD_MULTIPLES[VolatilityRegime.HIGH]
        > DEFAULT_THRESHOLD_MULTIPLES[VolatilityRegime.NORMAL]
        > DEFAULT_THRESHOLD_MULTIPLES[VolatilityRegime.LOW]
    )


def test_beta_is_fitted_within_the_regime():
    # sentiment follows the price closely in high-volatility rows and barely otherwise
    close = random_walk_prices(COUNT, seed=62)
    regime = volatility_regime(close)["regime"].fillna(0.0)
    rng = np.random.default_rng(63)
    slope = np.where(regime == 1.0, 1.0, 0.2)
    sentiment = slope * standardised_return(close).fillna(0.0) + rng.normal(0, 0.05, COUNT)
    table = sentiment_divergence(sentiment, close).iloc[300:]
    own = table["within_regime"]
    assert own.mean() > 0.5
    high = own & (table["regime"] == 1.0)
    other = own & (table["regime"] != 1.0)
    assert high.sum() > 20
    assert table.loc[high, "beta"].median() == pytest.approx(1.0, abs=0.15)
    assert table.loc[other, "beta"].median() == pytest.approx(0.2, abs=0.15)
    assert (table.loc[own, "observations"] >= 20).all()


def test_no_divergence_when_sentiment_does_not_follow_the_price():
    close = random_walk_prices(COUNT, seed=64)
    rng = np.random.default_rng(65)
    sentiment = pd.Series(
        -0.5 * standardised_return(close).fillna(0.0).to_numpy(), index=days(COUNT)
    )
    sentiment += rng.normal(0, 0.05, COUNT)
    sentiment.iloc[-1] += 2.0
    table = sentiment_divergence(sentiment, close)
    assert (table["beta"].dropna() < 0).all()
    assert (table["value"] == 0).all()


def test_sentiment_is_aligned_to_the_latest_known_score():
    prices = pd.date_range("2024-01-01", periods=4, freq="D", tz="UTC")
    scores = pd.Series(
        [0.1, 0.2, 0.3],
        index=pd.DatetimeIndex(
            ["2024-01-01 14:30", "2024-01-02 14:30", "2024-01-04 00:00"], tz="UTC"
        ),
    )
    aligned = align_sentiment(scores, prices)
    assert np.isnan(aligned.iloc[0])  # nothing known at midnight on the 1st
    assert aligned.iloc[1:].tolist() == [0.1, 0.2, 0.3]
