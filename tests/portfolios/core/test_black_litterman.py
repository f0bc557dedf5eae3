"""Black-Litterman posterior: He and Litterman (1999), Idzorek confidences, and bad input.

Source of the published example: G. He and R. Litterman, "The Intuition Behind Black-Litterman
Model Portfolios", Goldman Sachs Investment Management Research, 1999. Table 1 (correlations of
seven equity markets), Table 2 (volatilities, market-capitalisation weights and, column 3, the
equilibrium returns), delta = 2.5 and tau = 0.05 (footnote 8); Table 4 gives the posterior for
the view "Germany outperforms the other European markets by 5%", with France and the UK weighted
by market capitalisation (-29.5%, -70.5%). The optimal weights to more digits than the paper
prints are those of J. Walters' reference implementation (blacklitterman.org, hl_py), also used
by QuantConnect Lean's BlackLittermanOptimizationPortfolioConstructionModel tests.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from portfolios.core import optimize
from portfolios.core.errors import InvalidInput

COUNTRIES = ["Australia", "Canada", "France", "Germany", "Japan", "UK", "USA"]
CORRELATION = np.array(
    [
        [1.000, 0.488, 0.478, 0.515, 0.439, 0.512, 0.491],
        [0.488, 1.000, 0.664, 0.655, 0.310, 0.608, 0.779],
        [0.478, 0.664, 1.000, 0.861, 0.355, 0.783, 0.668],
        [0.515, 0.655, 0.861, 1.000, 0.354, 0.777, 0.653],
        [0.439, 0.310, 0.355, 0.354, 1.000, 0.405, 0.306],
        [0.512, 0.608, 0.783, 0.777, 0.405, 1.000, 0.652],
        [0.491, 0.779, 0.668, 0.653, 0.306, 0.652, 1.000],
    ]
)
VOLATILITY = np.array([0.160, 0.203, 0.248, 0.271, 0.210, 0.200, 0.187])
MARKET_WEIGHTS = np.array([0.016, 0.022, 0.052, 0.055, 0.116, 0.124, 0.615])
DELTA, TAU = 2.5, 0.05
SIGMA = np.outer(VOLATILITY, VOLATILITY) * CORRELATION

VIEW_GERMANY = [0.0, 0.0, -0.295, 1.0, 0.0, -0.705, 0.0]
VIEW_CANADA = [0.0, 1.0, 0.0, 0.0, 0.0, 0.0, -1.0]

# Table 2, column 3: equilibrium expected returns (%).
PUBLISHED_PRIOR = np.array([3.9, 6.9, 8.4, 9.0, 4.3, 6.8, 7.6]) / 100
# Table 4: posterior expected returns (%) with the German view, to one decimal.
PUBLISHED_POSTERIOR = np.array([4.3, 7.6, 9.3, 11.0, 4.5, 7.0, 8.1]) / 100
# Optimal unconstrained weights w* = (delta Sigma_BL)^-1 mu_BL (Table 4: 1.5, 2.1, -3.9, 35.4,
# 11.0, -9.5, 58.6 %), and with both views (Table 5), from the reference implementation.
REFERENCE_WEIGHTS_VIEW_1 = [
    0.0152381,
    0.02095238,
    -0.03948465,
    0.35410454,
    0.11047619,
    -0.09461989,
    0.58571429,
]
REFERENCE_WEIGHTS_VIEWS_1_2 = [
    0.0152381,
    0.41863571,
    -0.03409321,
    0.33582847,
    0.11047619,
    -0.08173526,
    0.18803095,
]


def _optimal_weights(result: optimize.BlackLittermanResult) -> np.ndarray:
    return np.linalg.solve(
        DELTA * np.asarray(result.posterior_cov), np.asarray(result.posterior_returns)
    )


def test_he_litterman_german_view():
    result = optimize.black_litterman(
        SIGMA, MARKET_WEIGHTS, risk_aversion=DELTA, tau=TAU, P=[VIEW_GERMANY], Q=[0.05]
    )
    np.testing.assert_allclose(result.prior_returns, PUBLISHED_PRIOR, atol=0.0005)
    np.testing.assert_allclose(result.posterior_returns, PUBLISHED_POSTERIOR, atol=0.0005)
    np.testing.assert_allclose(_optimal_weights(result), REFERENCE_WEIGHTS_VIEW_1, atol=5e-8)
    np.testing.assert_allclose(
        np.round(_optimal_weights(result) * 100, 1), [1.5, 2.1, -3.9, 35.4, 11.0, -9.5, 58.6]
    )
    # He and Litterman's Omega: the view's variance under the prior, diag(P tau Sigma P').
    p = np.array(VIEW_GERMANY)
    np.testing.assert_allclose(result.omega, [[p @ (TAU * SIGMA) @ p]])


def test_he_litterman_two_views_with_labels():
    cov = pd.DataFrame(SIGMA, index=COUNTRIES, columns=COUNTRIES)
    weights = pd.Series(MARKET_WEIGHTS, index=COUNTRIES)
    views = pd.DataFrame(
        [
            {"France": -0.295, "Germany": 1.0, "UK": -0.705},
            {"Canada": 1.0, "USA": -1.0},
        ],
        index=["germany_vs_europe", "canada_vs_usa"],
    )
    q = pd.Series({"canada_vs_usa": 0.03, "germany_vs_europe": 0.05})
    result = optimize.black_litterman(cov, weights, risk_aversion=DELTA, tau=TAU, P=views, Q=q)
    assert isinstance(result.posterior_returns, pd.Series)
    assert list(result.posterior_returns.index) == COUNTRIES
    assert isinstance(result.posterior_cov, pd.DataFrame)
    np.testing.assert_allclose(_optimal_weights(result), REFERENCE_WEIGHTS_VIEWS_1_2, atol=5e-8)


def test_posterior_covariance_is_sigma_plus_posterior_uncertainty():
    result = optimize.black_litterman(
        SIGMA, MARKET_WEIGHTS, risk_aversion=DELTA, tau=TAU, P=[VIEW_GERMANY], Q=[0.05]
    )
    post = np.asarray(result.posterior_cov)
    np.testing.assert_allclose(post, post.T)
    assert np.linalg.eigvalsh(post - SIGMA).min() > -1e-12
    # The view shrinks the uncertainty of the prior: M <= tau Sigma.
    assert np.linalg.eigvalsh(TAU * SIGMA - (post - SIGMA)).min() > -1e-12


def test_idzorek_full_confidence_meets_the_views_and_zero_confidence_keeps_the_prior():
    p = np.array([VIEW_GERMANY, VIEW_CANADA])
    q = np.array([0.05, 0.03])
    certain = optimize.black_litterman(
        SIGMA, MARKET_WEIGHTS, risk_aversion=DELTA, tau=TAU, P=p, Q=q, confidences=[1.0, 1.0]
    )
    np.testing.assert_allclose(p @ certain.posterior_returns, q, atol=1e-12)
    np.testing.assert_allclose(certain.omega, np.zeros((2, 2)))

    ignored = optimize.black_litterman(
        SIGMA, MARKET_WEIGHTS, risk_aversion=DELTA, tau=TAU, P=p, Q=q, confidences=[0.0, 0.0]
    )
    np.testing.assert_allclose(ignored.posterior_returns, ignored.prior_returns, atol=1e-15)
    np.testing.assert_allclose(ignored.posterior_cov, SIGMA * (1 + TAU))
    assert np.isinf(np.diag(ignored.omega)).all()

    mixed = optimize.black_litterman(
        SIGMA, MARKET_WEIGHTS, risk_aversion=DELTA, tau=TAU, P=p, Q=q, confidences=[1.0, 0.0]
    )
    only_first = optimize.black_litterman(
        SIGMA, MARKET_WEIGHTS, risk_aversion=DELTA, tau=TAU, P=p[:1], Q=q[:1], confidences=[1.0]
    )
    np.testing.assert_allclose(mixed.posterior_returns, only_first.posterior_returns)


@pytest.mark.parametrize("confidence", [0.0, 0.2, 0.5, 0.8, 1.0])
def test_idzorek_confidence_moves_returns_linearly_for_independent_absolute_views(confidence):
    # With an identity covariance and an absolute view on every asset the posterior is
    # Pi + c (Q - Pi): the view is reached in proportion to the confidence (Idzorek 2005).
    n = 5
    weights = np.full(n, 1 / n)
    prior = 0.1
    result = optimize.black_litterman(
        np.eye(n),
        weights,
        risk_aversion=prior * n,
        tau=0.05,
        P=np.eye(n),
        Q=np.full(n, 0.3),
        confidences=np.full(n, confidence),
    )
    np.testing.assert_allclose(result.prior_returns, prior)
    np.testing.assert_allclose(result.posterior_returns, prior + confidence * 0.2, atol=1e-12)


def test_market_implied_prior():
    prior = optimize.market_implied_prior(SIGMA, MARKET_WEIGHTS, risk_aversion=DELTA)
    np.testing.assert_allclose(prior, DELTA * SIGMA @ MARKET_WEIGHTS)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"omega": np.eye(1), "confidences": [0.5]}, "either omega or confidences"),
        ({"confidences": [1.5]}, r"confidences must be within \[0, 1\]"),
        ({"Q": [0.05, 0.01]}, r"Q must have one entry per view \(1\)"),
        ({"tau": 0.0}, "tau must be positive"),
        ({"market_weights": MARKET_WEIGHTS * 2}, "market_weights sum to 2, not 1"),
        ({"P": [[1.0, 0.0]]}, r"P must be \(k, 7\)"),
        ({"omega": np.eye(2)}, r"omega must be \(1, 1\)"),
    ],
)
def test_bad_views_are_rejected(kwargs, message):
    args = {
        "market_weights": MARKET_WEIGHTS,
        "risk_aversion": DELTA,
        "tau": TAU,
        "P": [VIEW_GERMANY],
        "Q": [0.05],
    }
    args.update(kwargs)
    market_weights = args.pop("market_weights")
    with pytest.raises(InvalidInput, match=message):
        optimize.black_litterman(SIGMA, market_weights, **args)


def test_views_on_unknown_symbols_are_rejected():
    cov = pd.DataFrame(SIGMA, index=COUNTRIES, columns=COUNTRIES)
    weights = pd.Series(MARKET_WEIGHTS, index=COUNTRIES)
    with pytest.raises(InvalidInput, match="P names symbols outside the universe"):
        optimize.black_litterman(
            cov,
            weights,
            risk_aversion=DELTA,
            tau=TAU,
            P=pd.DataFrame([{"Brazil": 1.0}]),
            Q=[0.1],
        )
