import numpy as np
import pandas as pd
import pytest

from portfolios.core.errors import InvalidInput
from signals.core.pairs import engle_granger, pair_spread, pairs_signal
from signals.core.types import SignalKind
from tests.signals.core.markets import ar1, days, random_walk_prices

HEDGE = 1.5


def cointegrated_pair(count: int = 500, *, seed: int = 31) -> tuple[pd.Series, pd.Series]:
    """log y = 0.2 + 1.5 log x + a stationary AR(1) spread."""
    x = random_walk_prices(count, seed=seed, volatility=0.015, start_price=40.0)
    spread = ar1(count, slope=0.7, noise=0.01, seed=seed + 1000)
    y = pd.Series(np.exp(0.2 + HEDGE * np.log(x.to_numpy()) + spread), index=x.index)
    return y, x


def test_cointegrated_pair_is_detected_with_its_hedge_ratio():
    y, x = cointegrated_pair()
    test = engle_granger(y, x)
    assert test.cointegrated
    assert test.p_value < 0.01
    assert test.hedge_ratio == pytest.approx(HEDGE, abs=0.05)
    assert test.intercept == pytest.approx(0.2, abs=0.25)
    # the Engle-Granger residual critical values are stricter than a plain ADF's -2.86
    assert test.critical_values["5%"] < -3.3
    assert test.adf_statistic < test.critical_values["1%"]
    # AR(1) slope 0.7: half-life ln 2 / -ln 0.7 = 1.94 periods
    assert test.half_life == pytest.approx(1.94, rel=0.25)


@pytest.mark.parametrize("seed", [41, 42, 43])
def test_independent_random_walks_are_not_cointegrated(seed):
    x = random_walk_prices(500, seed=seed)
    y = random_walk_prices(500, seed=seed + 100)
    test = engle_granger(y, x)
    assert not test.cointegrated
    assert test.p_value > 0.05
    as_of = x.index[-1].to_pydatetime()
    assert pairs_signal(y, x, asset="Y", pair_asset="X", as_of=as_of, window=None) is None


def test_spread_and_signal_direction():
    y, x = cointegrated_pair()
    test = engle_granger(y, x)
    spread = pair_spread(y, x, hedge_ratio=test.hedge_ratio, intercept=test.intercept)
    assert spread.iloc[-1] == pytest.approx(test.z_score * test.spread_std + test.spread_mean)

    rich = y.copy()
    rich.iloc[-1] *= 1.05  # y jumps 5% on the last day: the spread is rich
    as_of = y.index[-1].to_pydatetime()
    signal = pairs_signal(rich, x, asset="XOM", pair_asset="CVX", as_of=as_of)
    assert signal is not None
    assert signal.kind is SignalKind.PAIR_SPREAD
    assert signal.value < -2  # short XOM, long CVX
    assert signal.details["pair_asset"] == "CVX"
    assert signal.details["hedge_ratio"] == pytest.approx(HEDGE, abs=0.05)
    assert 0 < signal.confidence <= 1
    assert signal.window_start == y.index[-250]

    cheap = y.copy()
    cheap.iloc[-1] *= 0.95
    signal = pairs_signal(cheap, x, asset="XOM", pair_asset="CVX", as_of=as_of)
    assert signal is not None
    assert signal.value > 2


def test_pairs_use_common_timestamps_only_and_need_enough():
    y, x = cointegrated_pair(60)
    with pytest.raises(InvalidInput, match="at least 30 common"):
        engle_granger(y.iloc[:40], x.iloc[20:])
    shifted = pd.Series(x.to_numpy(), index=days(60) + pd.Timedelta(hours=1))
    with pytest.raises(InvalidInput, match="common"):
        engle_granger(y, shifted)
    with pytest.raises(InvalidInput, match="two different"):
        pairs_signal(y, x, asset="A", pair_asset="A", as_of=y.index[-1].to_pydatetime())
