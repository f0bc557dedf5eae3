import math

import numpy as np
import pandas as pd
import pytest

from portfolios.core.errors import InvalidInput
from signals.core.meanreversion import (
    Ar1Regression,
    _ou_from_regression,
    fit_ar1,
    fit_ornstein_uhlenbeck,
    mean_reversion,
    mean_reversion_signal,
)
from signals.core.types import SignalKind
from tests.signals.core.markets import ar1, days, random_walk_prices

KAPPA = 0.1  # per day: half-life ln 2 / 0.1 = 6.93 days
EQUILIBRIUM = 50.0


def ou_prices(count: int, *, seed: int, kappa: float = KAPPA) -> pd.Series:
    log_price = ar1(
        count, slope=math.exp(-kappa), noise=0.02, seed=seed, mean=math.log(EQUILIBRIUM)
    )
    return pd.Series(np.exp(log_price), index=days(count))


def test_ou_fit_recovers_half_life_and_equilibrium():
    fit = fit_ornstein_uhlenbeck(ou_prices(5000, seed=21))
    assert fit.mean_reverting
    assert fit.half_life == pytest.approx(math.log(2) / KAPPA, rel=0.10)
    assert fit.kappa == pytest.approx(KAPPA, rel=0.10)
    assert fit.equilibrium == pytest.approx(EQUILIBRIUM, rel=0.01)
    # stationary sd of the AR(1): 0.02 / sqrt(1 - exp(-0.2))
    assert fit.stationary_std == pytest.approx(0.02 / math.sqrt(1 - math.exp(-0.2)), rel=0.05)
    assert fit.unit_root_statistic < -10


def test_ou_fit_z_score_is_the_current_deviation():
    prices = ou_prices(2000, seed=22)
    fit = fit_ornstein_uhlenbeck(prices)
    expected = (math.log(prices.iloc[-1]) - fit.mean) / fit.stationary_std
    assert fit.z_score == pytest.approx(expected)


def test_ar1_regression_by_hand():
    # x: 1, 2, 4, 3, 5 -> pairs (1,2), (2,4), (4,3), (3,5): previous mean 2.5, current mean 3.5,
    # p - 2.5 = -1.5, -0.5, 1.5, 0.5 and c - 3.5 = -1.5, 0.5, -0.5, 1.5, so
    # slope = (2.25 - 0.25 - 0.75 + 0.75) / (2.25 + 0.25 + 2.25 + 0.25) = 2 / 5 = 0.4,
    # intercept 3.5 - 0.4 * 2.5 = 2.5; residuals -0.9, 0.7, -1.1, 1.3: sd sqrt(4.2 / 2) = 1.449138.
    regression = fit_ar1(np.array([1.0, 2.0, 4.0, 3.0, 5.0]))
    assert regression.slope == pytest.approx(0.4)
    assert regression.intercept == pytest.approx(2.5)
    assert regression.residual_std == pytest.approx(1.449138, abs=1e-6)


def test_a_trending_series_does_not_revert():
    prices = pd.Series(np.exp(np.linspace(0.0, 1.0, 50)) * 10, index=days(50))
    fit = fit_ornstein_uhlenbeck(prices)
    assert not fit.mean_reverting
    assert fit.half_life == math.inf or math.isnan(fit.half_life)


def test_rolling_fit_equals_the_single_fit_over_the_same_window():
    prices = ou_prices(400, seed=23)
    table = mean_reversion(prices, window=120)
    assert table.iloc[:120].isna().all().all()
    fit = fit_ornstein_uhlenbeck(prices.iloc[-121:])
    last = table.iloc[-1]
    assert last["slope"] == pytest.approx(fit.slope)
    assert last["half_life"] == pytest.approx(fit.half_life)
    assert last["z_score"] == pytest.approx(fit.z_score)
    assert last["unit_root_statistic"] == pytest.approx(fit.unit_root_statistic)


def test_signal_points_back_to_equilibrium():
    prices = ou_prices(400, seed=24)
    prices.iloc[-1] = EQUILIBRIUM * 0.9  # far below equilibrium
    signal = mean_reversion_signal(prices, asset="KO", as_of=prices.index[-1].to_pydatetime())
    assert signal is not None
    assert signal.kind is SignalKind.MEAN_REVERSION
    assert signal.value > 2  # at least two typical deviations below
    assert 0 < signal.confidence <= 1
    assert signal.details["half_life"] < 60
    assert signal.window_start == prices.index[-121]


def test_no_signal_on_a_random_walk():
    for seed in (1, 2, 3, 4, 5):
        prices = random_walk_prices(300, seed=seed)
        as_of = prices.index[-1].to_pydatetime()
        assert mean_reversion_signal(prices, asset="X", as_of=as_of) is None


def test_signal_needs_a_full_window():
    prices = ou_prices(50, seed=25)
    with pytest.raises(InvalidInput, match="121 prices"):
        mean_reversion_signal(prices, asset="KO", as_of=prices.index[-1].to_pydatetime())


def test_a_slope_within_rounding_of_one_is_a_unit_root_not_a_far_away_mean():
    # What a constant-growth series fits on some machines: b one rounding step below 1.
    regression = Ar1Regression(
        intercept=0.020408163265306367,
        slope=0.9999999999999998,
        residual_std=4.4e-16,
        slope_std_error=2.2e-16,
        observations=49,
    )
    fit = _ou_from_regression(regression, 3.3, True)
    assert not fit.mean_reverting
    assert fit.half_life == math.inf
    assert math.isnan(fit.equilibrium)
    assert math.isnan(fit.z_score)


def test_the_rolling_fit_treats_a_constant_growth_window_as_a_unit_root():
    prices = pd.Series(np.exp(np.linspace(0.0, 1.0, 60)) * 10, index=days(60))
    last = mean_reversion(prices, window=30).iloc[-1]
    assert last["half_life"] == math.inf
    assert math.isnan(last["mean"])
