"""Agreement with PyPortfolioOpt 1.6 on its own test data (``shared/data/prices``).

The 20 stocks start trading on different dates, so the estimates use ``missing="pairwise"``
(PyPortfolioOpt's behaviour); Ledoit-Wolf, which needs complete data, uses the dates on which
every stock has a price.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pypfopt import EfficientFrontier, black_litterman, expected_returns, risk_models

from portfolios.core import estimate, optimize


@pytest.fixture(scope="module")
def prices(shared_data: Path) -> pd.DataFrame:
    return pd.read_csv(shared_data / "prices" / "stock_prices.csv", parse_dates=True, index_col=0)


@pytest.fixture(scope="module")
def mu(prices: pd.DataFrame) -> pd.Series:
    return estimate.mean_historical_return(prices, missing="pairwise")


@pytest.fixture(scope="module")
def cov(prices: pd.DataFrame) -> pd.DataFrame:
    return estimate.sample_cov(prices, missing="pairwise")


def test_mean_historical_return(prices: pd.DataFrame, mu: pd.Series):
    theirs = expected_returns.mean_historical_return(prices)
    pd.testing.assert_series_equal(mu, theirs, check_names=False, rtol=1e-10)


def test_ema_historical_return(prices: pd.DataFrame):
    ours = estimate.ema_historical_return(prices, missing="pairwise")
    theirs = expected_returns.ema_historical_return(prices)
    pd.testing.assert_series_equal(ours, theirs, check_names=False, rtol=1e-10)


def test_capm_return(prices: pd.DataFrame):
    ours = estimate.capm_return(prices, missing="pairwise")
    theirs = expected_returns.capm_return(prices)
    pd.testing.assert_series_equal(ours, theirs, check_names=False, rtol=1e-9)


def test_sample_cov(prices: pd.DataFrame, cov: pd.DataFrame):
    theirs = risk_models.sample_cov(prices)
    pd.testing.assert_frame_equal(cov, theirs, rtol=1e-10, atol=1e-14)


def test_ledoit_wolf(prices: pd.DataFrame):
    complete = prices.dropna()
    ours = estimate.ledoit_wolf(complete)
    theirs = risk_models.CovarianceShrinkage(complete).ledoit_wolf()
    pd.testing.assert_frame_equal(ours, theirs, rtol=1e-9, atol=1e-14)


def test_market_implied_risk_aversion(shared_data: Path):
    spy = pd.read_csv(
        shared_data / "prices" / "spy_prices.csv", parse_dates=True, index_col=0
    ).iloc[:, 0]
    ours = estimate.market_implied_risk_aversion(spy, risk_free_rate=0.02)
    theirs = black_litterman.market_implied_risk_aversion(spy, risk_free_rate=0.02)
    assert ours == pytest.approx(float(theirs), rel=1e-10)


def test_min_variance_long_only(mu: pd.Series, cov: pd.DataFrame):
    ours = optimize.min_variance(cov, mu=mu)
    ef = EfficientFrontier(mu, cov, solver="CLARABEL")
    ef.min_volatility()
    theirs = pd.Series(ef.weights, index=cov.index)
    assert np.abs(ours.weights - theirs).max() < 1e-3
    assert ours.volatility == pytest.approx(ef.portfolio_performance()[1], rel=1e-4)


def test_max_sharpe_long_only(mu: pd.Series, cov: pd.DataFrame):
    ours = optimize.max_sharpe(mu, cov, risk_free_rate=0.02)
    ef = EfficientFrontier(mu, cov, solver="CLARABEL")
    ef.max_sharpe(risk_free_rate=0.02)
    theirs = pd.Series(ef.weights, index=cov.index)
    assert np.abs(ours.weights - theirs).max() < 1e-3
    assert ours.objective == pytest.approx(
        ef.portfolio_performance(risk_free_rate=0.02)[2], rel=1e-5
    )


def test_efficient_frontier_points(mu: pd.Series, cov: pd.DataFrame):
    ours = optimize.efficient_risk(mu, cov, target_volatility=0.25)
    ef = EfficientFrontier(mu, cov, solver="CLARABEL")
    ef.efficient_risk(0.25)
    assert np.abs(ours.weights - pd.Series(ef.weights, index=cov.index)).max() < 1e-3

    ours = optimize.efficient_return(mu, cov, target_return=0.25)
    ef = EfficientFrontier(mu, cov, solver="CLARABEL")
    ef.efficient_return(0.25)
    assert np.abs(ours.weights - pd.Series(ef.weights, index=cov.index)).max() < 1e-3
