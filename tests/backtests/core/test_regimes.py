"""Regimes of the benchmark, known at the previous close."""

import numpy as np
import pandas as pd

from backtests.core.regimes import benchmark_regimes, equal_weight_index
from signals.core.regime import volatility_regime


def test_regime_of_a_day_is_the_one_known_the_day_before():
    rng = np.random.default_rng(3)
    index = pd.bdate_range("2015-01-01", periods=700)
    vol = np.where(np.arange(700) < 660, 0.005, 0.03)
    close = pd.Series(100 * np.exp(np.cumsum(rng.normal(0, vol))), index=index)
    labels = benchmark_regimes(close)
    stamped = close.copy()
    stamped.index = stamped.index.tz_localize("UTC")
    codes = volatility_regime(stamped)["regime"].to_numpy()
    names = {-1.0: "low", 0.0: "normal", 1.0: "high"}
    for t in range(1, 700):
        expected = names.get(codes[t - 1]) if np.isfinite(codes[t - 1]) else None
        got = labels.iloc[t]
        assert (got if isinstance(got, str) else None) == expected
    assert labels.iloc[-1] == "high"


def test_equal_weight_index():
    closes = pd.DataFrame(
        {"A": [10.0, 11.0, 12.1], "B": [np.nan, 50.0, 45.0]},
        index=pd.to_datetime(["2020-01-02", "2020-01-03", "2020-01-06"]),
    )
    index = equal_weight_index(closes)
    # Day two: only A has a return (+10%); day three: A +10% and B -10% average to nothing.
    assert np.allclose(index.to_numpy(), [100.0, 110.0, 110.0])
