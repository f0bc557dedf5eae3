"""Expected returns and covariance estimates: closed forms, missing data, and bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from portfolios.core import estimate
from portfolios.core.errors import InvalidInput


def _prices_from_returns(returns: np.ndarray, start: float = 100.0) -> np.ndarray:
    return start * np.vstack([np.ones(returns.shape[1]), np.cumprod(1.0 + returns, axis=0)])


@pytest.fixture
def returns() -> np.ndarray:
    rng = np.random.default_rng(7)
    factor = rng.normal(0.0004, 0.01, size=(400, 1))
    return factor * np.array([[0.8, 1.0, 1.3]]) + rng.normal(0, 0.008, size=(400, 3))


@pytest.fixture
def prices(returns: np.ndarray) -> pd.DataFrame:
    dates = pd.bdate_range("2020-01-01", periods=returns.shape[0] + 1)
    return pd.DataFrame(_prices_from_returns(returns), index=dates, columns=["AAA", "BBB", "CCC"])


def test_constant_growth_annualises_geometrically_and_arithmetically():
    daily = 0.001
    prices = 100 * (1 + daily) ** np.arange(253)[:, None] * np.ones((1, 2))
    geometric = estimate.mean_historical_return(prices)
    arithmetic = estimate.mean_historical_return(prices, compounding=False, frequency=252)
    np.testing.assert_allclose(geometric, (1 + daily) ** 252 - 1, rtol=1e-12)
    np.testing.assert_allclose(arithmetic, daily * 252, rtol=1e-12)
    assert isinstance(geometric, np.ndarray)


def test_returns_from_prices_keeps_labels_and_dates(prices: pd.DataFrame, returns: np.ndarray):
    out = estimate.returns_from_prices(prices)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == ["AAA", "BBB", "CCC"]
    assert out.index[0] == prices.index[1]
    np.testing.assert_allclose(out.to_numpy(), returns, rtol=1e-10, atol=1e-13)


def test_missing_prices_raise_by_default_naming_the_assets(prices: pd.DataFrame):
    gappy = prices.copy()
    gappy.iloc[:5, 1] = np.nan
    with pytest.raises(InvalidInput, match=r"BBB \(5\)"):
        estimate.sample_cov(gappy)


def test_drop_uses_complete_periods_and_pairwise_uses_all(prices: pd.DataFrame):
    gappy = prices.copy()
    gappy.iloc[:50, 0] = np.nan
    rets = gappy.pct_change(fill_method=None).iloc[1:]
    dropped = estimate.sample_cov(gappy, missing="drop", frequency=1)
    pd.testing.assert_frame_equal(dropped, rets.dropna().cov(), rtol=1e-10)
    pairwise = estimate.sample_cov(gappy, missing="pairwise", frequency=1)
    pd.testing.assert_frame_equal(pairwise, rets.cov(), rtol=1e-10)
    means = estimate.mean_historical_return(gappy, missing="pairwise", compounding=False)
    np.testing.assert_allclose(means, rets.mean() * 252, rtol=1e-12)


def test_sample_cov_is_numpy_cov_times_frequency(returns: np.ndarray):
    out = estimate.sample_cov(returns, returns_data=True, frequency=52)
    np.testing.assert_allclose(out, np.cov(returns, rowvar=False) * 52, rtol=1e-12)


def test_exp_cov_matches_explicit_weighted_moments(returns: np.ndarray):
    span = 30
    alpha = 2 / (span + 1)
    t = returns.shape[0]
    w = (1 - alpha) ** np.arange(t - 1, -1, -1)
    w = w / w.sum()
    mean = w @ returns
    centred = returns - mean
    expected = (centred * w[:, None]).T @ centred * 252
    out = estimate.exp_cov(returns, returns_data=True, span=span)
    np.testing.assert_allclose(out, expected, rtol=1e-10)


def test_exp_cov_with_a_long_span_tends_to_the_biased_sample_cov(returns: np.ndarray):
    out = estimate.exp_cov(returns, returns_data=True, span=1e9, frequency=1)
    np.testing.assert_allclose(out, np.cov(returns, rowvar=False, ddof=0), rtol=1e-5)


def test_ema_return_weights_recent_periods_more():
    rets = np.array([[0.0], [0.0], [0.0], [0.01]])
    span = 3
    alpha = 2 / (span + 1)
    weights = (1 - alpha) ** np.array([3, 2, 1, 0])
    expected = (weights @ rets[:, 0]) / weights.sum() * 12
    out = estimate.ema_historical_return(
        rets, returns_data=True, span=span, compounding=False, frequency=12
    )
    np.testing.assert_allclose(out, [expected])


def test_capm_beta_of_a_levered_market_asset():
    rng = np.random.default_rng(3)
    market = rng.normal(0.0005, 0.01, 500)
    rets = np.column_stack([market, 2 * market, 0.5 * market])
    out = estimate.capm_return(
        rets,
        market_prices=market,
        returns_data=True,
        risk_free_rate=0.01,
        compounding=False,
    )
    market_mean = market.mean() * 252
    np.testing.assert_allclose(out, 0.01 + np.array([1, 2, 0.5]) * (market_mean - 0.01))


def test_ledoit_wolf_is_a_convex_combination_with_a_scaled_identity(returns: np.ndarray):
    shrunk, delta = estimate.ledoit_wolf_shrinkage(returns)
    sample = np.cov(returns, rowvar=False, ddof=0)
    mu = np.trace(sample) / 3
    assert 0 <= delta <= 1
    np.testing.assert_allclose(shrunk, (1 - delta) * sample + delta * mu * np.eye(3), rtol=1e-12)
    annual = estimate.ledoit_wolf(returns, returns_data=True)
    np.testing.assert_allclose(annual, shrunk * 252)
    assert np.linalg.eigvalsh(annual).min() > 0


def test_ledoit_wolf_refuses_pairwise_missing_data(prices: pd.DataFrame):
    with pytest.raises(InvalidInput, match="needs complete data"):
        estimate.ledoit_wolf(prices, missing="pairwise")


def test_statistical_factor_model_explains_a_factor_structure():
    rng = np.random.default_rng(11)
    t, n, k = 3000, 30, 2
    loadings = rng.normal(0, 1, (n, k))
    rets = rng.normal(0, 0.01, (t, k)) @ loadings.T + rng.normal(0, 0.002, (t, n))
    model = estimate.factor_model(rets, n_factors=k, returns_data=True)
    assert (model.n_assets, model.n_factors) == (n, k)
    sample = np.cov(rets, rowvar=False) * 252
    dense = model.covariance()
    assert np.abs(dense - sample).max() / np.abs(sample).max() < 0.02
    np.testing.assert_allclose(np.diag(dense), np.diag(sample), rtol=1e-8)
    assert (model.specific_variance > 0).all()


def test_factor_model_from_given_factor_returns_recovers_loadings():
    rng = np.random.default_rng(5)
    factors = rng.normal(0, 0.01, (2000, 2))
    true_b = np.array([[1.0, 0.0], [0.5, 2.0], [-1.0, 1.0]])
    rets = factors @ true_b.T + rng.normal(0, 0.001, (2000, 3))
    model = estimate.factor_model(rets, factor_returns=factors, returns_data=True)
    np.testing.assert_allclose(model.loadings, true_b, atol=0.02)
    np.testing.assert_allclose(model.factor_covariance, np.cov(factors, rowvar=False) * 252)
    np.testing.assert_allclose(model.specific_variance, 0.001**2 * 252, rtol=0.1)


def test_factor_model_labels_follow_the_prices(prices: pd.DataFrame):
    model = estimate.factor_model(prices, n_factors=1)
    assert model.symbols == ("AAA", "BBB", "CCC")
    dense = model.covariance()
    assert isinstance(dense, pd.DataFrame)
    assert list(dense.index) == ["AAA", "BBB", "CCC"]


def test_factor_model_validates_its_parts():
    with pytest.raises(InvalidInput, match="specific_variance must be positive"):
        estimate.FactorModel(np.ones((2, 1)), np.eye(1), np.array([0.1, 0.0]))
    with pytest.raises(InvalidInput, match="factor_covariance must be"):
        estimate.FactorModel(np.ones((2, 1)), np.eye(2), np.array([0.1, 0.1]))
    with pytest.raises(InvalidInput, match="n_factors must be between"):
        estimate.factor_model(np.ones((10, 3)) + np.arange(30).reshape(10, 3), n_factors=5)


def test_market_implied_risk_aversion_closed_form():
    rng = np.random.default_rng(2)
    market = rng.normal(0.0004, 0.01, 1000)
    delta = estimate.market_implied_risk_aversion(market, returns_data=True, risk_free_rate=0.02)
    expected = (market.mean() * 252 - 0.02) / (market.var(ddof=1) * 252)
    assert delta == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (np.array([[1.0, 2.0], [np.inf, 2.1], [1.1, 2.2]]), "infinite"),
        (np.array([[1.0, 2.0], [0.0, 2.1], [1.1, 2.2]]), "must be positive"),
        (np.array([[1.0, 2.0]]), "at least two dates"),
    ],
)
def test_bad_prices_are_rejected_with_a_reason(data: np.ndarray, message: str):
    with pytest.raises(InvalidInput, match=message):
        estimate.sample_cov(data)


def test_bad_frequency_and_missing_policy_are_rejected(prices: pd.DataFrame):
    with pytest.raises(InvalidInput, match="frequency"):
        estimate.sample_cov(prices, frequency=0)
    with pytest.raises(InvalidInput, match="missing must be"):
        estimate.sample_cov(prices, missing="ffill")  # type: ignore[arg-type]


def test_statistical_factor_model_with_more_assets_than_periods():
    rng = np.random.default_rng(12)
    rets = rng.normal(0, 0.01, (40, 1)) * rng.uniform(0.5, 1.5, 120) + rng.normal(
        0, 0.005, (40, 120)
    )
    model = estimate.factor_model(rets, n_factors=3, returns_data=True)
    np.testing.assert_allclose(model.loadings.T @ model.loadings, np.eye(3), atol=1e-10)
    sample = np.cov(rets, rowvar=False) * 252
    np.testing.assert_allclose(np.diag(model.covariance()), np.diag(sample), rtol=1e-8)
    first = model.loadings[:, 0] * np.sqrt(model.factor_covariance[0, 0])
    top = np.linalg.eigh(sample)
    np.testing.assert_allclose(model.factor_covariance[0, 0], top.eigenvalues[-1], rtol=1e-8)
    assert abs(first @ top.eigenvectors[:, -1]) == pytest.approx(np.sqrt(top.eigenvalues[-1]))
