import math

import numpy as np
import pandas as pd
import pytest

from portfolios.core.errors import InvalidInput
from signals.core.regime import realised_volatility, volatility_regime, volatility_regime_signal
from signals.core.types import SignalKind
from tests.signals.core.markets import days

CALM, SHIFT = 0.01, 600


def doubling_volatility(count: int = 800, *, seed: int = 51) -> pd.Series:
    """Daily log returns with sd 1% for 600 days, then 2%."""
    rng = np.random.default_rng(seed)
    sd = np.where(np.arange(count) < SHIFT, CALM, 2 * CALM)
    return pd.Series(100 * np.exp(np.cumsum(rng.normal(0, 1, count) * sd)), index=days(count))


def test_realised_volatility_by_hand():
    # log returns ln 1.1, ln(1.21/1.1) = ln 1.1, 0: sample sd over 3 of (a, a, 0) is a / sqrt(3)
    close = pd.Series([1.0, 1.1, 1.21, 1.21], index=days(4))
    volatility = realised_volatility(close, window=3, periods_per_year=1)
    assert volatility.iloc[:3].isna().all()
    assert volatility.iloc[3] == pytest.approx(math.log(1.1) / math.sqrt(3))


def test_regime_turns_high_when_volatility_doubles():
    table = volatility_regime(doubling_volatility(1000), window=20, lookback=252)
    regime = table["regime"]
    assert regime.iloc[: 20 + 125].isna().all()  # warm-up: volatility, then half a lookback
    assert set(regime.dropna().unique()) <= {-1.0, 0.0, 1.0}
    before = regime.iloc[300:SHIFT]
    assert 0.15 < (before == 1.0).mean() < 0.6  # the calm period has its own highs and lows
    # once the 20-day window is past the shift, high until the new level fills a third of the
    # 252-day lookback and the thresholds follow it
    after = regime.iloc[SHIFT + 20 : SHIFT + 84]
    assert (after == 1.0).all()
    later = regime.iloc[SHIFT + 300 :]
    assert (later == 1.0).mean() < 0.6
    assert table["volatility"].iloc[SHIFT + 60] == pytest.approx(2 * CALM * math.sqrt(252), rel=0.4)


def test_regime_at_t_uses_only_data_up_to_t():
    close = doubling_volatility()
    full = volatility_regime(close)
    changed = close.copy()
    changed.iloc[500:] *= np.exp(np.random.default_rng(9).normal(0, 0.1, len(close) - 500))
    perturbed = volatility_regime(changed)
    pd.testing.assert_frame_equal(full.iloc[:500], perturbed.iloc[:500])
    assert not full.iloc[500:].equals(perturbed.iloc[500:])


def test_regime_signal():
    close = doubling_volatility()
    signal = volatility_regime_signal(close, asset="SPY", as_of=close.index[SHIFT + 40])
    assert signal.kind is SignalKind.VOLATILITY_REGIME
    assert signal.value == 1.0
    assert signal.details["regime"] == "high"
    assert signal.confidence > 0.9
    assert signal.window_start == close.index[SHIFT + 40 - 271]
    with pytest.raises(InvalidInput, match="at least"):
        volatility_regime_signal(close, asset="SPY", as_of=close.index[50])


def test_regime_parameters_are_checked():
    close = doubling_volatility(100)
    with pytest.raises(InvalidInput, match="quantiles"):
        volatility_regime(close, low_quantile=0.7, high_quantile=0.3)
    with pytest.raises(InvalidInput, match="lookback"):
        volatility_regime(close, lookback=1)
