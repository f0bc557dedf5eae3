"""Risk measures against closed forms and hand-worked series."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest

from portfolios.core import risk
from portfolios.core.errors import InvalidInput


def _sample_with_moments(mean: float, sd: float, n: int = 5000, seed: int = 0) -> np.ndarray:
    z = np.random.default_rng(seed).standard_normal(n)
    return mean + sd * (z - z.mean()) / z.std(ddof=1)


HAND = np.array([-0.10, -0.05, -0.02, 0.0, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06])


def test_parametric_var_and_es_of_a_normal():
    mean, sd = 0.001, 0.02
    returns = _sample_with_moments(mean, sd)
    z = NormalDist().inv_cdf(0.95)
    assert risk.var(returns, level=0.95, method="parametric") == pytest.approx(-mean + sd * z)
    expected_es = -mean + sd * NormalDist().pdf(z) / 0.05
    assert risk.expected_shortfall(returns, level=0.95, method="parametric") == pytest.approx(
        expected_es
    )
    assert z == pytest.approx(1.6448536269514722)


def test_historical_var_uses_the_lower_empirical_quantile():
    # Ten returns: P(R <= -0.05) = 0.2, so at 80% the VaR is 5% and the ES averages the two
    # worst returns; at 90% both are the single worst return.
    assert risk.var(HAND, level=0.8) == pytest.approx(0.05)
    assert risk.expected_shortfall(HAND, level=0.8) == pytest.approx(0.075)
    assert risk.var(HAND, level=0.9) == pytest.approx(0.10)
    assert risk.expected_shortfall(HAND, level=0.9) == pytest.approx(0.10)


def test_monte_carlo_agrees_with_the_parametric_normal():
    returns = _sample_with_moments(0.0005, 0.015)
    parametric = risk.var(returns, method="parametric", level=0.99)
    simulated = risk.var(returns, method="monte_carlo", level=0.99, n_simulations=200_000, seed=1)
    assert simulated == pytest.approx(parametric, rel=0.02)
    again = risk.var(returns, method="monte_carlo", level=0.99, n_simulations=200_000, seed=1)
    assert again == simulated


def test_portfolio_measures_use_the_weighted_returns():
    rng = np.random.default_rng(4)
    data = pd.DataFrame(rng.normal(0.0005, 0.01, (3000, 3)), columns=["A", "B", "C"])
    weights = pd.Series({"C": 0.2, "A": 0.5, "B": 0.3})
    portfolio = data.to_numpy() @ np.array([0.5, 0.3, 0.2])
    assert risk.var(data, weights=weights, method="parametric") == pytest.approx(
        risk.var(portfolio, method="parametric")
    )
    assert risk.expected_shortfall(data, weights=weights) == pytest.approx(
        risk.expected_shortfall(portfolio)
    )
    simulated = risk.var(data, weights=weights, method="monte_carlo", n_simulations=200_000)
    assert simulated == pytest.approx(risk.var(portfolio, method="parametric"), rel=0.03)
    per_asset = risk.var(data)
    assert isinstance(per_asset, pd.Series)
    assert list(per_asset.index) == ["A", "B", "C"]


def test_max_drawdown_of_a_hand_series():
    values = np.array([100.0, 120.0, 90.0, 110.0, 80.0, 130.0])
    assert risk.max_drawdown(values, kind="values") == pytest.approx(1 / 3)
    returns = values[1:] / values[:-1] - 1
    assert risk.max_drawdown(returns) == pytest.approx(1 / 3)
    assert risk.max_drawdown(np.array([0.01, 0.02])) == 0.0


def test_kelly_fraction():
    assert risk.kelly_fraction(0.6, 1.0) == pytest.approx(0.2)
    assert risk.kelly_fraction(0.6, 1.0, cap=0.1) == pytest.approx(0.1)
    assert risk.kelly_fraction(0.6, 1.0, fraction=0.5) == pytest.approx(0.1)
    assert risk.kelly_fraction(0.5, 2.0) == pytest.approx(0.25)
    assert risk.kelly_fraction(0.4, 1.0) == 0.0
    with pytest.raises(InvalidInput, match="p must be a probability"):
        risk.kelly_fraction(1.2, 1.0)
    with pytest.raises(InvalidInput, match="win_loss_ratio must be positive"):
        risk.kelly_fraction(0.6, 0.0)


def test_volatility_and_sharpe_closed_forms():
    mean, sd = 0.0004, 0.01
    returns = _sample_with_moments(mean, sd)
    assert risk.volatility(returns) == pytest.approx(sd * math.sqrt(252))
    expected = (mean * 252 - 0.02) / (sd * math.sqrt(252))
    assert risk.sharpe(returns, risk_free_rate=0.02) == pytest.approx(expected)


def test_sortino_and_calmar_by_hand():
    returns = np.array([0.01, -0.02, 0.03, -0.01])
    downside = math.sqrt((0.02**2 + 0.01**2) / 4)
    assert risk.sortino(returns, frequency=12) == pytest.approx(
        0.0025 * 12 / (downside * math.sqrt(12))
    )
    wealth = np.cumprod(1 + returns)
    growth = wealth[-1] ** (12 / 4) - 1
    drawdown = 1 - wealth[1] / wealth[0]
    assert risk.calmar(returns, frequency=12) == pytest.approx(growth / drawdown)


def test_tracking_error():
    rng = np.random.default_rng(8)
    bench = rng.normal(0, 0.01, 500)
    active = rng.normal(0, 0.002, 500)
    assert risk.tracking_error(bench + active, bench) == pytest.approx(
        np.std(active, ddof=1) * math.sqrt(252)
    )
    assert risk.tracking_error(bench + 0.001, bench) == pytest.approx(0.0, abs=1e-12)


def test_risk_contributions_sum_to_the_volatility():
    cov = pd.DataFrame(
        [[0.04, 0.01, 0.0], [0.01, 0.09, 0.02], [0.0, 0.02, 0.16]],
        index=["A", "B", "C"],
        columns=["A", "B", "C"],
    )
    weights = pd.Series({"B": 0.3, "A": 0.5, "C": 0.2})
    contributions = risk.risk_contributions(weights, cov)
    w = weights.reindex(["A", "B", "C"]).to_numpy()
    vol = math.sqrt(w @ cov.to_numpy() @ w)
    assert contributions.sum() == pytest.approx(vol)
    assert list(contributions.index) == ["B", "A", "C"]
    assert risk.risk_contributions(weights, cov, relative=True).sum() == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: risk.var(np.array([0.01, np.nan])), "missing"),
        (lambda: risk.var(HAND, level=1.5), "level must be between 0 and 1"),
        (lambda: risk.var(HAND, method="cornish"), "method must be"),  # type: ignore[arg-type]
        (lambda: risk.sharpe(np.zeros(10)), "zero volatility"),
        (lambda: risk.max_drawdown(np.array([1.0, -1.0]), kind="values"), "positive"),
        (lambda: risk.tracking_error(HAND, HAND[:5]), "periods"),
    ],
)
def test_bad_input_is_rejected(call, message):
    with pytest.raises(InvalidInput, match=message):
        call()
