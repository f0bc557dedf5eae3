"""Optimisers: closed forms, constraints and their names, error paths, and the fast path."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from portfolios.core import optimize
from portfolios.core.errors import InfeasibleProblem, InvalidInput, SolverFailure
from portfolios.core.estimate import FactorModel
from portfolios.core.optimize import Constraints, Fallback, RecommendationProblem

SYMBOLS = ["AAA", "BBB", "CCC", "XOM", "MSFT", "JNJ"]


@pytest.fixture
def market() -> tuple[pd.Series, pd.DataFrame]:
    """Six assets with a one-factor covariance and returns rising with risk."""
    beta = np.array([0.6, 0.8, 1.0, 1.1, 1.3, 0.7])
    resid = np.array([0.02, 0.03, 0.025, 0.04, 0.05, 0.02])
    cov = 0.03 * np.outer(beta, beta) + np.diag(resid)
    mu = 0.02 + 0.05 * beta
    return (
        pd.Series(mu, index=SYMBOLS),
        pd.DataFrame(cov, index=SYMBOLS, columns=SYMBOLS),
    )


ESG = pd.Series([80.0, 60.0, 70.0, 20.0, 75.0, 90.0], index=SYMBOLS)


# --------------------------------------------------------------------------------------------
# Closed forms
# --------------------------------------------------------------------------------------------


def test_mean_variance_diagonal_closed_form():
    # max w'mu - (lam/2) w'Sigma w  s.t. 1'w = 1 has the KKT solution
    #   w = Sigma^-1 (mu - nu 1) / lam,  nu = (1'Sigma^-1 mu - lam) / (1'Sigma^-1 1),
    # which here is strictly inside the long-only bounds, so the bounds do not bind.
    mu = np.array([0.06, 0.08, 0.10, 0.12])
    sigma = np.array([0.15, 0.20, 0.25, 0.30])
    lam = 4.0
    inv = 1 / sigma**2
    nu = (inv @ mu - lam) / inv.sum()
    expected = inv * (mu - nu) / lam
    assert expected.min() > 0.1

    result = optimize.mean_variance(mu, np.diag(sigma**2), risk_aversion=lam)

    np.testing.assert_allclose(result.weights, expected, atol=1e-7)
    assert isinstance(result.weights, np.ndarray)
    assert result.status == "optimal"
    assert result.solver == "CLARABEL"
    assert result.binding_constraints == ()
    assert result.objective == pytest.approx(
        mu @ expected - lam / 2 * expected @ (sigma**2 * expected)
    )
    assert result.expected_return == pytest.approx(mu @ expected)
    assert result.volatility == pytest.approx(np.sqrt(expected @ (sigma**2 * expected)))


def test_mean_variance_recovers_the_portfolio_its_returns_imply(market):
    # Reverse optimisation: with mu = lam Sigma w* + c 1 the KKT conditions of
    # max w'mu - (lam/2) w'Sigma w s.t. 1'w = 1 hold at w* (multiplier c), for any Sigma.
    _, cov = market
    target = np.array([0.10, 0.20, 0.15, 0.05, 0.20, 0.30])
    lam = 5.0
    mu = pd.Series(lam * cov.to_numpy() @ target + 0.01, index=SYMBOLS)

    result = optimize.mean_variance(mu, cov, risk_aversion=lam)

    assert isinstance(result.weights, pd.Series)
    assert list(result.weights.index) == SYMBOLS
    np.testing.assert_allclose(result.weights.to_numpy(), target, atol=1e-6)


def test_min_variance_of_uncorrelated_assets_is_inverse_variance():
    variances = np.array([0.04, 0.09, 0.16])
    result = optimize.min_variance(np.diag(variances))
    expected = (1 / variances) / (1 / variances).sum()
    np.testing.assert_allclose(result.weights, expected, atol=1e-7)
    assert result.objective == pytest.approx(1 / (1 / variances).sum(), rel=1e-6)
    assert result.expected_return is None


def test_max_sharpe_of_uncorrelated_assets_is_the_tangency_portfolio():
    mu = np.array([0.07, 0.09, 0.12])
    variances = np.array([0.04, 0.09, 0.16])
    rf = 0.02
    raw = (mu - rf) / variances
    expected = raw / raw.sum()
    result = optimize.max_sharpe(mu, np.diag(variances), risk_free_rate=rf)
    np.testing.assert_allclose(result.weights, expected, atol=1e-7)
    sharpe = (mu @ expected - rf) / np.sqrt(expected @ (variances * expected))
    assert result.objective == pytest.approx(sharpe, rel=1e-7)


def test_frontier_targets_are_met(market):
    mu, cov = market
    by_risk = optimize.efficient_risk(mu, cov, target_volatility=0.2)
    assert by_risk.volatility == pytest.approx(0.2, abs=1e-6)
    assert "volatility <= 0.2" in by_risk.binding_constraints
    by_return = optimize.efficient_return(mu, cov, target_return=0.07)
    assert by_return.expected_return == pytest.approx(0.07, abs=1e-6)
    assert "expected return >= 0.07" in by_return.binding_constraints
    unconstrained = optimize.min_variance(cov, mu=mu)
    assert by_return.volatility >= unconstrained.volatility - 1e-9


def test_factor_model_gives_the_dense_answer():
    rng = np.random.default_rng(4)
    n, k = 25, 3
    model = FactorModel(
        loadings=rng.normal(0, 0.2, (n, k)),
        factor_covariance=np.diag([0.04, 0.02, 0.01]),
        specific_variance=rng.uniform(0.01, 0.05, n),
    )
    mu = rng.uniform(0.02, 0.1, n)
    constraints = Constraints(max_weight=0.15, esg_scores=rng.uniform(0, 100, n), esg_floor=55)
    for run in (optimize.mean_variance, optimize.max_sharpe):
        kwargs = {"risk_aversion": 3.0} if run is optimize.mean_variance else {}
        factor = run(mu, model, constraints=constraints, **kwargs)
        dense = run(mu, model.covariance(), constraints=constraints, **kwargs)
        np.testing.assert_allclose(factor.weights, dense.weights, atol=1e-5)
        assert factor.volatility == pytest.approx(dense.volatility, rel=1e-6)


def test_inverse_volatility():
    result = optimize.inverse_volatility(np.diag([0.04, 0.16]))
    np.testing.assert_allclose(result.weights, [2 / 3, 1 / 3])
    assert result.solver == "closed form"


# --------------------------------------------------------------------------------------------
# Constraints and their names
# --------------------------------------------------------------------------------------------


def test_binding_constraints_are_named(market):
    mu, cov = market
    current = pd.Series(1 / 6, index=SYMBOLS)
    constraints = Constraints(
        max_weight=0.3,
        esg_scores=ESG,
        esg_floor=78,
        excluded=["XOM"],
        sector_bounds={"Tech": (["MSFT", "CCC"], 0.0, 0.35)},
        asset_class_bounds={"Defensive": (["JNJ", "AAA"], 0.2, 1.0)},
    )
    result = optimize.mean_variance(mu, cov, risk_aversion=0.5, constraints=constraints)
    w = result.weights
    assert w["XOM"] == 0.0
    assert result.esg_score == pytest.approx(ESG @ w)
    assert result.esg_score >= 78 - 1e-4
    assert result.binding_constraints == (
        "ESG floor 78",
        "sector Tech <= 0.35",
        "cap 0.3 on MSFT",
        "cap 0.3 on JNJ",
    )
    assert w[["MSFT", "CCC"]].sum() == pytest.approx(0.35, abs=1e-6)
    assert w["JNJ"] == pytest.approx(0.3, abs=1e-7)

    limited = optimize.mean_variance(
        mu,
        cov,
        risk_aversion=1.0,
        constraints=Constraints(current_weights=current, max_turnover=0.1, min_weight={"AAA": 0.2}),
    )
    turnover = np.abs(limited.weights - current).sum() / 2
    assert turnover == pytest.approx(0.1, abs=1e-6)
    assert "turnover <= 0.1" in limited.binding_constraints
    assert "minimum 0.2 on AAA" in limited.binding_constraints


def test_group_lower_bound_is_named_when_binding(market):
    mu, cov = market
    constraints = Constraints(asset_class_bounds={"Bonds": (["AAA", "JNJ"], 0.6, 1.0)})
    result = optimize.max_sharpe(mu, cov, constraints=constraints)
    assert result.weights[["AAA", "JNJ"]].sum() == pytest.approx(0.6, abs=1e-6)
    assert "asset class Bonds >= 0.6" in result.binding_constraints


def test_masks_work_for_numpy_inputs():
    cov = np.diag([0.02, 0.04, 0.08])
    constraints = Constraints(
        excluded=np.array([False, False, True]),
        sector_bounds={"One": (np.array([True, False, False]), 0.0, 0.4)},
    )
    result = optimize.min_variance(cov, constraints=constraints)
    assert result.weights[2] == 0.0
    assert result.weights[0] == pytest.approx(0.4, abs=1e-6)
    assert "sector One <= 0.4" in result.binding_constraints


# --------------------------------------------------------------------------------------------
# Errors name what is wrong
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("constraints", "message"),
    [
        (Constraints(excluded=SYMBOLS), "universe is empty after exclusions"),
        (
            Constraints(esg_scores=ESG, esg_floor=95),
            r"ESG floor 95 is above every eligible asset's score \(highest: JNJ at 90\)",
        ),
        (
            Constraints(esg_scores=ESG, esg_floor=85, excluded=["JNJ"]),
            r"ESG floor 85 is above every eligible asset's score \(highest: AAA at 80\)",
        ),
        (
            Constraints(esg_scores=ESG, esg_floor=85, max_weight=0.3),
            "ESG floor 85 cannot be met within the per-asset caps",
        ),
        (Constraints(max_weight=0.15), r"per-asset caps sum to 0\.9"),
        (
            Constraints(max_weight=0.2, excluded=["AAA", "BBB"]),
            "per-asset caps sum to 0.8 after excluding 2 of 6 assets",
        ),
        (Constraints(min_weight=0.2), "minimum weights sum to 1.2"),
        (
            Constraints(min_weight={"AAA": 0.3}, max_weight={"AAA": 0.2}),
            "minimum weight 0.3 on AAA is above its cap 0.2",
        ),
        (
            Constraints(min_weight={"XOM": 0.1}, excluded=["XOM"]),
            "XOM is excluded but has a minimum weight of 0.1",
        ),
        (
            Constraints(sector_bounds={"Energy": (["XOM"], 0.1, 1.0)}, excluded=["XOM"]),
            "sector Energy >= 0.1 cannot be met: every member of sector Energy is excluded",
        ),
        (
            Constraints(sector_bounds={"Energy": (["XOM"], 0.0, 0.5)}, max_weight=0.1),
            "caps sum to 0.6",
        ),
        (
            Constraints(
                sector_bounds={"Tech": (["MSFT", "CCC", "BBB"], 0.0, 0.3)},
                asset_class_bounds={"Equity": (["MSFT", "CCC"], 0.5, 1.0)},
            ),
            "sector Tech <= 0.3 conflicts with asset class Equity >= 0.5",
        ),
        (
            Constraints(
                esg_scores=ESG,
                esg_floor=76,
                sector_bounds={"Brown": (["BBB", "XOM"], 0.5, 1.0)},
            ),
            "ESG floor 76 cannot be met together with sector Brown >= 0.5: the highest "
            "achievable portfolio ESG score is 75",
        ),
        (
            Constraints(current_weights={"XOM": 1.0}, max_turnover=0.2, excluded=["XOM"]),
            "turnover <= 0.2 is too tight: the per-asset bounds and exclusions alone need "
            "turnover of 1",
        ),
        (
            Constraints(
                current_weights={"BBB": 1.0},
                max_turnover=0.2,
                esg_scores=ESG,
                esg_floor=70,
            ),
            "turnover <= 0.2 is too tight: meeting ESG floor 70 needs turnover of at least",
        ),
    ],
)
def test_infeasible_constraints_are_named(market, constraints: Constraints, message: str):
    mu, cov = market
    with pytest.raises(InfeasibleProblem, match=message) as caught:
        optimize.mean_variance(mu, cov, risk_aversion=2.0, constraints=constraints)
    assert caught.value.code == "infeasible"


def test_solver_infeasibility_is_mapped_to_infeasible_problem(market):
    mu, cov = market
    constraints = Constraints(
        sector_bounds={"Tech": (["MSFT", "CCC", "BBB"], 0.0, 0.3)},
        asset_class_bounds={"Equity": (["MSFT", "CCC"], 0.5, 1.0)},
    )
    with pytest.raises(InfeasibleProblem) as caught:
        optimize.max_sharpe(mu, cov, constraints=constraints)
    assert caught.value.details == {"status": "infeasible"}


def test_frontier_targets_out_of_reach(market):
    mu, cov = market
    with pytest.raises(InfeasibleProblem, match=r"target volatility 0\.01 is below the lowest"):
        optimize.efficient_risk(mu, cov, target_volatility=0.01)
    with pytest.raises(InfeasibleProblem, match=r"target return 0\.5 is above the highest"):
        optimize.efficient_return(mu, cov, target_return=0.5)
    capped = Constraints(sector_bounds={"High": (["MSFT", "XOM"], 0.0, 0.1)})
    with pytest.raises(InfeasibleProblem, match=r"expected return >= 0\.08 is out of reach"):
        optimize.efficient_return(mu, cov, target_return=0.08, constraints=capped)
    with pytest.raises(InfeasibleProblem, match=r"risk-free rate 0\.2"):
        optimize.max_sharpe(mu, cov, risk_free_rate=0.2)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda mu, cov: (mu.where(mu.index != "BBB", np.nan), cov), "mu contains NaN"),
        (lambda mu, cov: (mu, cov.replace(cov.iloc[0, 0], np.inf)), "cov contains infinite"),
        (lambda mu, cov: (mu.drop("JNJ"), cov), r"mu and cov name different assets"),
        (
            lambda mu, cov: (mu, cov + np.triu(np.full(cov.shape, 0.01), 1)),
            "cov is not symmetric",
        ),
        (
            lambda mu, cov: (mu, cov - 0.2 * np.eye(len(cov))),
            "cov is not positive semidefinite",
        ),
    ],
)
def test_bad_inputs_are_rejected_with_a_reason(market, mutate, message: str):
    mu, cov = mutate(*market)
    with pytest.raises(InvalidInput, match=message):
        optimize.mean_variance(mu, cov, risk_aversion=2.0)


def test_non_psd_covariance_is_repaired_only_on_request(market):
    _, cov = market
    broken = cov.copy()
    broken.loc["AAA", "BBB"] = broken.loc["BBB", "AAA"] = 0.2
    with pytest.raises(InvalidInput, match="psd='repair'"):
        optimize.min_variance(broken)
    result = optimize.min_variance(broken, psd="repair")
    assert result.psd_repaired
    assert optimize.min_variance(cov).psd_repaired is False


def test_other_bad_arguments(market):
    mu, cov = market
    with pytest.raises(InvalidInput, match="risk_aversion must be positive"):
        optimize.mean_variance(mu, cov, risk_aversion=0)
    with pytest.raises(InvalidInput, match="ESG floor 50 needs esg_scores"):
        optimize.mean_variance(mu, cov, risk_aversion=1, constraints=Constraints(esg_floor=50))
    with pytest.raises(InvalidInput, match="a turnover limit needs current_weights"):
        Constraints(max_turnover=0.1)
    with pytest.raises(InvalidInput, match="max_weight must be at most 1"):
        Constraints(max_weight=1.5)
    with pytest.raises(InvalidInput, match="fallback must be None or one of"):
        optimize.min_variance(cov, fallback="hope")
    with pytest.raises(InvalidInput, match="max_weight names symbols outside the universe: ZZZ"):
        optimize.min_variance(cov, constraints=Constraints(max_weight={"ZZZ": 0.1}))


def test_solver_failure_raises_unless_a_fallback_is_chosen():
    mu = np.array([0.05, 0.08, 0.10])
    cov = np.diag([0.04, 0.09, 0.16])
    with pytest.raises(SolverFailure, match="status user_limit"):
        optimize.mean_variance(mu, cov, risk_aversion=3, solver_options={"max_iter": 1})

    retried = optimize.mean_variance(
        mu, cov, risk_aversion=3, solver_options={"max_iter": 1}, fallback=Fallback.RETRY_SCS
    )
    assert retried.solver == "SCS"
    assert retried.fallback == "CLARABEL ended with status user_limit; solved again with SCS"
    exact = optimize.mean_variance(mu, cov, risk_aversion=3)
    np.testing.assert_allclose(retried.weights, exact.weights, atol=1e-5)

    unreachable = {"tol_gap_abs": 1e-30, "tol_gap_rel": 1e-30, "tol_feas": 1e-30, "max_iter": 200}
    with pytest.raises(SolverFailure, match="optimal_inaccurate"):
        optimize.mean_variance(mu, cov, risk_aversion=3, solver_options=unreachable)
    accepted = optimize.mean_variance(
        mu, cov, risk_aversion=3, solver_options=unreachable, fallback="accept_inaccurate"
    )
    assert accepted.status == "optimal_inaccurate"
    assert accepted.fallback == "accepted an inaccurate (optimal_inaccurate) solution from CLARABEL"


# --------------------------------------------------------------------------------------------
# Risk parity
# --------------------------------------------------------------------------------------------


def test_two_asset_risk_parity_is_inverse_volatility():
    sigma = np.array([0.1, 0.3])
    rho = 0.4
    cov = np.array(
        [[sigma[0] ** 2, rho * sigma[0] * sigma[1]], [rho * sigma[0] * sigma[1], sigma[1] ** 2]]
    )
    result = optimize.risk_parity(cov)
    np.testing.assert_allclose(result.weights, [0.75, 0.25], atol=1e-12)
    assert result.solver == "newton"
    assert result.objective < 1e-12


def test_maillard_roncalli_teiletche_four_asset_example():
    # Maillard, Roncalli and Teiletche (2010), "The Properties of Equally Weighted Risk
    # Contribution Portfolios", Journal of Portfolio Management 36(4): volatilities 10%, 20%,
    # 30%, 40% and the correlation matrix below give ERC weights 38.4%, 19.2%, 24.3%, 18.2%
    # (published to one decimal) and a portfolio volatility of 10.3%.
    sigma = np.array([0.10, 0.20, 0.30, 0.40])
    corr = np.array(
        [
            [1.0, 0.8, 0.0, 0.0],
            [0.8, 1.0, 0.0, 0.0],
            [0.0, 0.0, 1.0, -0.5],
            [0.0, 0.0, -0.5, 1.0],
        ]
    )
    cov = np.outer(sigma, sigma) * corr
    result = optimize.risk_parity(cov)
    np.testing.assert_allclose(result.weights, [0.384, 0.192, 0.243, 0.182], atol=0.0006)
    assert result.volatility == pytest.approx(0.103, abs=0.0006)
    contributions = result.weights * (cov @ result.weights)
    np.testing.assert_allclose(contributions / contributions.sum(), 0.25, atol=1e-12)


def test_risk_budgets_and_labels(market):
    _, cov = market
    budgets = pd.Series([0.3, 0.1, 0.1, 0.1, 0.1, 0.3], index=SYMBOLS)
    result = optimize.risk_parity(cov, budgets=budgets)
    w = result.weights
    shares = w * (cov @ w) / (w @ cov @ w)
    np.testing.assert_allclose(shares.to_numpy(), budgets.to_numpy(), atol=1e-12)
    with pytest.raises(InvalidInput, match="risk budgets must be positive"):
        optimize.risk_parity(cov, budgets={"AAA": 1.0})
    with pytest.raises(InvalidInput, match="positive definite"):
        optimize.risk_parity(np.ones((2, 2)) * 0.04)


# --------------------------------------------------------------------------------------------
# Fast path
# --------------------------------------------------------------------------------------------


def test_recommendations_match_the_one_off_optimiser(market):
    mu, cov = market
    sectors = pd.Series(["Fin", "Fin", "Tech", "Energy", "Tech", "Health"], index=SYMBOLS)
    problem = RecommendationProblem(mu, cov, esg_scores=ESG, sectors=sectors)
    clients = [
        (1.0, Constraints(max_weight=0.4, esg_floor=70, excluded=["XOM"])),
        (3.0, Constraints(sector_bounds={"Tech": (None, 0.0, 0.2)})),
        (6.0, Constraints(esg_floor=65, min_weight=0.05)),
        (2.0, None),
    ]
    for lam, constraints in clients:
        fast = problem.recommend(risk_aversion=lam, constraints=constraints)
        full = constraints or Constraints()
        one_off = optimize.mean_variance(
            mu,
            cov,
            risk_aversion=lam,
            constraints=Constraints(
                min_weight=full.min_weight,
                max_weight=full.max_weight,
                esg_scores=ESG,
                esg_floor=full.esg_floor,
                excluded=full.excluded,
                sector_bounds={
                    name: (list(sectors.index[sectors == name]), b.lower, b.upper)
                    for name, b in full.sector_bounds.items()
                },
            ),
        )
        np.testing.assert_allclose(fast.weights.to_numpy(), one_off.weights.to_numpy(), atol=2e-5)
        assert fast.binding_constraints == one_off.binding_constraints
    assert problem.distinct_solves == 4


def test_identical_clients_share_one_solve(market):
    mu, cov = market
    problem = RecommendationProblem(mu, cov, esg_scores=ESG)
    first = problem.recommend(risk_aversion=2.0, constraints=Constraints(esg_floor=70))
    first.weights.iloc[0] = 99.0  # a caller scribbling on its copy must not reach the cache
    second = problem.recommend(risk_aversion=2.0, constraints=Constraints(esg_floor=70))
    assert problem.distinct_solves == 1
    assert problem.cache_hits == 1
    assert second.weights.sum() == pytest.approx(1.0, abs=1e-6)
    problem.recommend(risk_aversion=2.0, constraints=Constraints(esg_floor=71))
    assert problem.distinct_solves == 2


def test_fast_path_with_factor_model_and_turnover():
    rng = np.random.default_rng(9)
    n = 30
    symbols = [f"S{i}" for i in range(n)]
    model = FactorModel(
        loadings=rng.normal(0, 0.2, (n, 2)),
        factor_covariance=np.diag([0.04, 0.01]),
        specific_variance=rng.uniform(0.01, 0.04, n),
        symbols=tuple(symbols),
    )
    mu = pd.Series(rng.uniform(0.02, 0.1, n), index=symbols)
    current = pd.Series(1 / n, index=symbols)
    problem = RecommendationProblem(mu, model, turnover=True)
    constraints = Constraints(max_weight=0.2, current_weights=current, max_turnover=0.15)
    fast = problem.recommend(risk_aversion=2.0, constraints=constraints)
    dense = optimize.mean_variance(
        mu, model.covariance(), risk_aversion=2.0, constraints=constraints
    )
    np.testing.assert_allclose(fast.weights.to_numpy(), dense.weights.to_numpy(), atol=1e-5)
    assert "turnover <= 0.15" in fast.binding_constraints
    assert np.abs(fast.weights - current).sum() / 2 <= 0.15 + 1e-6


def test_fast_path_errors_name_the_problem(market):
    mu, cov = market
    problem = RecommendationProblem(mu, cov, esg_scores=ESG)
    with pytest.raises(InfeasibleProblem, match="ESG floor 95 is above every eligible"):
        problem.recommend(risk_aversion=1.0, constraints=Constraints(esg_floor=95))
    with pytest.raises(InvalidInput, match="sector Tech needs its members"):
        problem.recommend(
            risk_aversion=1.0, constraints=Constraints(sector_bounds={"Tech": (None, 0, 0.2)})
        )
    with pytest.raises(InvalidInput, match="built without turnover limits"):
        problem.recommend(
            risk_aversion=1.0,
            constraints=Constraints(current_weights={"AAA": 1.0}, max_turnover=0.1),
        )
    plain = RecommendationProblem(mu, cov)
    with pytest.raises(InvalidInput, match="ESG floor 60 needs esg_scores"):
        plain.recommend(risk_aversion=1.0, constraints=Constraints(esg_floor=60))


# --------------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------------


def _linear_feasible(
    n: int,
    cap: float,
    excluded: np.ndarray,
    scores: np.ndarray,
    floor: float,
    current: np.ndarray,
    max_turnover: float,
) -> bool:
    """Independent feasibility check of the linear constraints, as an LP in (w, t)."""
    eye = np.eye(n)
    a_ub = np.vstack(
        [
            np.concatenate([-scores, np.zeros(n)])[None],
            np.hstack([eye, -eye]),
            np.hstack([-eye, -eye]),
            np.concatenate([np.zeros(n), np.full(n, 0.5)])[None],
        ]
    )
    b_ub = np.concatenate([[-floor], current, -current, [max_turnover]])
    bounds = [(0.0, 0.0 if ex else cap) for ex in excluded] + [(0.0, None)] * n
    a_eq = np.concatenate([np.ones(n), np.zeros(n)])[None]
    result = linprog(np.zeros(2 * n), A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=[1.0], bounds=bounds)
    return bool(result.status == 0)


@settings(
    max_examples=45,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    method=st.sampled_from(["mean_variance", "min_variance", "max_sharpe"]),
    seed=st.integers(0, 2**31 - 1),
    n=st.integers(3, 7),
    slack=st.floats(0.0, 1.0),
    floor_quantile=st.floats(0.0, 0.8),
    turnover=st.floats(0.05, 1.0),
    lam=st.floats(0.5, 20.0),
)
def test_constraints_hold_whenever_feasible(method, seed, n, slack, floor_quantile, turnover, lam):
    rng = np.random.default_rng(seed)
    a = rng.normal(0, 0.2, (n, n))
    cov = a @ a.T + np.diag(rng.uniform(0.005, 0.05, n))
    mu = rng.uniform(0.01, 0.15, n)
    scores = rng.uniform(0, 100, n)
    excluded = rng.random(n) < 0.25
    floor = float(np.quantile(scores[~excluded], floor_quantile)) if (~excluded).any() else 50.0
    # Caps from just below "barely investable" (1 / eligible assets) up to 1.
    eligible = max(int((~excluded).sum()), 1)
    cap = min(1.0, 0.95 / eligible + slack * (1.0 - 0.95 / eligible))
    current = rng.dirichlet(np.ones(n))
    constraints = Constraints(
        max_weight=cap,
        esg_scores=scores,
        esg_floor=floor,
        excluded=excluded,
        current_weights=current,
        max_turnover=turnover,
    )
    feasible = _linear_feasible(n, cap, excluded, scores, floor, current, turnover)
    try:
        if method == "mean_variance":
            result = optimize.mean_variance(mu, cov, risk_aversion=lam, constraints=constraints)
        elif method == "min_variance":
            result = optimize.min_variance(cov, constraints=constraints)
        else:
            result = optimize.max_sharpe(mu, cov, constraints=constraints)
    except InfeasibleProblem:
        assert not feasible
        return
    assert feasible
    w = result.weights
    assert w.sum() == pytest.approx(1.0, abs=1e-6)
    assert (w >= 0).all()
    assert (w <= cap + 1e-9).all()
    assert (w[excluded] == 0).all()
    assert scores @ w >= floor - 1e-6 * 100
    assert np.abs(w - current).sum() / 2 <= turnover + 1e-6
    assert result.esg_score == pytest.approx(scores @ w)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(2, 12))
def test_risk_parity_equalises_risk_contributions(seed, n):
    rng = np.random.default_rng(seed)
    a = rng.normal(0, 1, (n, n))
    cov = (a @ a.T + 0.05 * np.eye(n)) * rng.uniform(0.001, 1.0)
    budgets = rng.uniform(0.1, 1.0, n)
    result = optimize.risk_parity(cov, budgets=budgets)
    w = result.weights
    assert w.sum() == pytest.approx(1.0, abs=1e-12)
    assert (w > 0).all()
    shares = w * (cov @ w) / (w @ cov @ w)
    np.testing.assert_allclose(shares, budgets / budgets.sum(), atol=1e-9)
