"""Portfolio optimisers: mean-variance and its frontier, risk parity, and Black-Litterman.

Every optimiser is long-only and fully invested and honours one shared :class:`Constraints`
(per-asset bounds and caps, a hard ESG floor, exclusions held at zero, asset-class and sector
bounds, a turnover limit against current weights). Each returns an :class:`OptimizationResult`
with the weights and the diagnostics an advisor needs: solver, status, objective, the achieved ESG
score, expected return and volatility, and which constraints bind.

Failures are explicit, never a silently degraded answer:

* bad input (NaN, infinities, shapes, a non-PSD covariance unless ``psd="repair"``) raises
  :class:`~portfolios.core.errors.InvalidInput`;
* constraints no portfolio can meet raise :class:`~portfolios.core.errors.InfeasibleProblem`
  whose message names the constraint (checked before solving where possible, and explained
  after the solver reports infeasibility otherwise);
* a solver that ends anywhere but ``optimal`` raises
  :class:`~portfolios.core.errors.SolverFailure`, unless the caller chose a :class:`Fallback`,
  which is then recorded on the result.

Expected returns and covariances are annualised and in the same units (see
:mod:`portfolios.core.estimate`). A covariance may be a dense matrix or a
:class:`~portfolios.core.estimate.FactorModel`. Inputs are numpy arrays or pandas objects; with
pandas the weights come back as a ``Series`` indexed by symbol.

For many clients sharing one universe, :class:`RecommendationProblem` compiles the mean-variance
problem once and solves it per client.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
import pandas as pd

from portfolios.core._opt_constraints import (
    BINDING_TOLERANCE,
    VERIFY_TOLERANCE,
    Constraints,
    GroupBound,
    ResolvedConstraints,
    best_linear_value,
    check_feasibility,
    explain_infeasibility,
    max_linear,
    resolve,
)
from portfolios.core._opt_model import (
    CovInput,
    Fallback,
    OptimizationResult,
    PsdPolicy,
    ReturnsInput,
    RiskModel,
    SolveOutcome,
    SolverInfeasible,
    checked_covariance,
    finish,
    linear_constraints,
    parse_fallback,
    prepare_inputs,
    risk_expression,
    solve_problem,
)
from portfolios.core._opt_recommend import RecommendationProblem
from portfolios.core._opt_universe import Universe, check_scalar, per_asset
from portfolios.core.errors import InfeasibleProblem, InvalidInput, SolverFailure
from portfolios.core.estimate import FactorModel

__all__ = [
    "BlackLittermanResult",
    "Constraints",
    "FactorModel",
    "Fallback",
    "GroupBound",
    "OptimizationResult",
    "RecommendationProblem",
    "black_litterman",
    "efficient_return",
    "efficient_risk",
    "inverse_volatility",
    "market_implied_prior",
    "max_sharpe",
    "mean_variance",
    "min_variance",
    "risk_parity",
]

SolverOptions: TypeAlias = Mapping[str, Any] | None
Views: TypeAlias = pd.DataFrame | pd.Series | np.ndarray


# --------------------------------------------------------------------------------------------
# Shared machinery
# --------------------------------------------------------------------------------------------


def _solve_or_explain(
    problem: Any,
    rc: ResolvedConstraints,
    universe: Universe,
    *,
    fallback: Fallback | None,
    solver_options: SolverOptions,
    extra: tuple[tuple[str, str, np.ndarray, float], ...] = (),
    when_linear_feasible: Callable[[], str | None] | None = None,
) -> SolveOutcome:
    """Solve; on infeasibility raise :class:`InfeasibleProblem` naming the conflict."""
    try:
        return solve_problem(problem, fallback=fallback, solver_options=solver_options)
    except SolverInfeasible as exc:
        message = explain_infeasibility(rc, universe, extra=extra)
        if message is None and when_linear_feasible is not None:
            message = when_linear_feasible()
        if message is None:
            message = (
                f"the solver found the constraints infeasible (status {exc.status}) although "
                "each linear constraint can be met; the combination cannot"
            )
        raise InfeasibleProblem(message, details={"status": exc.status}) from None


def _setup(
    mu: ReturnsInput | None,
    cov: CovInput,
    constraints: Constraints | None,
    psd: PsdPolicy,
    fallback: Fallback | str | None,
) -> tuple[Universe, np.ndarray | None, RiskModel, ResolvedConstraints, Fallback | None]:
    fb = parse_fallback(fallback)
    universe, mu_arr, risk = prepare_inputs(mu, cov, psd)
    rc = resolve(constraints, universe)
    check_feasibility(rc, universe)
    return universe, mu_arr, risk, rc, fb


def _require_mu(mu: np.ndarray | None) -> np.ndarray:
    if mu is None:
        raise InvalidInput("expected returns mu are required", field="mu")
    return mu


# --------------------------------------------------------------------------------------------
# Mean-variance family
# --------------------------------------------------------------------------------------------


def mean_variance(
    mu: ReturnsInput,
    cov: CovInput,
    *,
    risk_aversion: float,
    constraints: Constraints | None = None,
    psd: PsdPolicy = "raise",
    fallback: Fallback | str | None = None,
    solver_options: SolverOptions = None,
) -> OptimizationResult:
    """Maximise the mean-variance utility ``w'mu - (lambda/2) w'Sigma w`` within the constraints.

    Parameters
    ----------
    mu : Series or ndarray, shape (n,)
        Annualised expected returns.
    cov : DataFrame, ndarray of shape (n, n), or FactorModel
        Annualised covariance.
    risk_aversion : float
        ``lambda`` > 0; larger is more cautious.
    constraints : Constraints, optional
        Defaults to long-only and fully invested with no other limit.
    psd : {"raise", "repair"}
        What to do with a covariance that is not positive semidefinite: raise
        :class:`InvalidInput`, or use the nearest PSD matrix (recorded as ``psd_repaired``).
    fallback : Fallback, optional
        What to accept if the solver does not reach an optimal solution (recorded).
    solver_options : mapping, optional
        Settings passed to Clarabel (e.g. ``{"max_iter": 100}``).

    Returns
    -------
    OptimizationResult
        ``objective`` is the utility at the weights.
    """
    started = time.perf_counter()
    lam = check_scalar(risk_aversion, "risk_aversion")
    if lam <= 0:
        raise InvalidInput(f"risk_aversion must be positive, got {lam:g}", field="risk_aversion")
    universe, mu_arr, risk, rc, fb = _setup(mu, cov, constraints, psd, fallback)
    mu_v = _require_mu(mu_arr)
    import cvxpy as cp

    w = cp.Variable(universe.n)
    variance, aux = risk_expression(w, risk)
    problem = cp.Problem(
        cp.Minimize(lam / 2.0 * variance - mu_v @ w), aux + linear_constraints(w, rc)
    )
    outcome = _solve_or_explain(problem, rc, universe, fallback=fb, solver_options=solver_options)
    return finish(
        method="mean_variance",
        raw_weights=w.value,
        rc=rc,
        universe=universe,
        risk=risk,
        mu=mu_v,
        outcome=outcome,
        started=started,
        objective=lambda x: float(mu_v @ x) - lam / 2.0 * risk.variance(x),
    )


def _min_variance_weights(
    universe: Universe,
    risk: RiskModel,
    rc: ResolvedConstraints,
    fb: Fallback | None,
    solver_options: SolverOptions,
) -> tuple[np.ndarray | None, SolveOutcome]:
    import cvxpy as cp

    w = cp.Variable(universe.n)
    variance, aux = risk_expression(w, risk)
    problem = cp.Problem(cp.Minimize(variance), aux + linear_constraints(w, rc))
    outcome = _solve_or_explain(problem, rc, universe, fallback=fb, solver_options=solver_options)
    return w.value, outcome


def min_variance(
    cov: CovInput,
    *,
    constraints: Constraints | None = None,
    mu: ReturnsInput | None = None,
    psd: PsdPolicy = "raise",
    fallback: Fallback | str | None = None,
    solver_options: SolverOptions = None,
) -> OptimizationResult:
    """The minimum-variance portfolio within the constraints.

    Parameters
    ----------
    cov : DataFrame, ndarray of shape (n, n), or FactorModel
    constraints, psd, fallback, solver_options
        As for :func:`mean_variance`.
    mu : Series or ndarray, shape (n,), optional
        Expected returns, only to report the portfolio's expected return.

    Returns
    -------
    OptimizationResult
        ``objective`` is the variance ``w'Sigma w``.
    """
    started = time.perf_counter()
    universe, mu_arr, risk, rc, fb = _setup(mu, cov, constraints, psd, fallback)
    weights, outcome = _min_variance_weights(universe, risk, rc, fb, solver_options)
    return finish(
        method="min_variance",
        raw_weights=weights,
        rc=rc,
        universe=universe,
        risk=risk,
        mu=mu_arr,
        outcome=outcome,
        started=started,
        objective=risk.variance,
    )


def max_sharpe(
    mu: ReturnsInput,
    cov: CovInput,
    *,
    risk_free_rate: float = 0.0,
    constraints: Constraints | None = None,
    psd: PsdPolicy = "raise",
    fallback: Fallback | str | None = None,
    solver_options: SolverOptions = None,
) -> OptimizationResult:
    """The portfolio with the highest Sharpe ratio ``(w'mu - r_f) / sqrt(w'Sigma w)``.

    Solved as the convex problem of Cornuejols and Tütüncü: with ``y = kappa w`` and
    ``kappa >= 0``, minimise ``y'Sigma y`` subject to ``(mu - r_f)'y = 1``, ``sum(y) = kappa``
    and every other constraint with its right-hand side multiplied by ``kappa`` (bounds, the ESG
    floor, group bounds and the turnover limit are all homogeneous in this form); then
    ``w = y / kappa``.

    Parameters
    ----------
    mu : Series or ndarray, shape (n,)
    cov : DataFrame, ndarray of shape (n, n), or FactorModel
    risk_free_rate : float
        Annual risk-free rate; some feasible portfolio must have a higher expected return.
    constraints, psd, fallback, solver_options
        As for :func:`mean_variance`.

    Returns
    -------
    OptimizationResult
        ``objective`` is the Sharpe ratio.
    """
    started = time.perf_counter()
    rf = check_scalar(risk_free_rate, "risk_free_rate")
    universe, mu_arr, risk, rc, fb = _setup(mu, cov, constraints, psd, fallback)
    mu_v = _require_mu(mu_arr)
    ceiling = max_linear(mu_v, rc.lower, rc.upper)
    if ceiling <= rf:
        raise InfeasibleProblem(
            f"no portfolio within the per-asset bounds has an expected return above the "
            f"risk-free rate {rf:g} (the highest is {ceiling:.6g}); the maximum Sharpe ratio "
            "portfolio is undefined",
            field="risk_free_rate",
        )
    import cvxpy as cp

    y = cp.Variable(universe.n)
    kappa = cp.Variable(nonneg=True)
    variance, aux = risk_expression(y, risk)
    cons = [*aux, (mu_v - rf) @ y == 1.0, *linear_constraints(y, rc, scale=kappa)]
    problem = cp.Problem(cp.Minimize(variance), cons)

    def no_excess_return() -> str | None:
        best = best_linear_value(rc, universe, mu_v)
        if best is not None and best <= rf + VERIFY_TOLERANCE:
            return (
                f"no portfolio within the constraints has an expected return above the risk-free "
                f"rate {rf:g} (the highest is {best:.6g}); the maximum Sharpe ratio portfolio is "
                "undefined"
            )
        return None

    outcome = _solve_or_explain(
        problem,
        rc,
        universe,
        fallback=fb,
        solver_options=solver_options,
        when_linear_feasible=no_excess_return,
    )
    k = kappa.value
    if y.value is None or k is None or not float(k) > 0:
        raise SolverFailure(
            "max_sharpe: the solver returned no usable scale for the weights",
            details={"status": outcome.status},
        )

    def sharpe_ratio(x: np.ndarray) -> float:
        return (float(mu_v @ x) - rf) / math.sqrt(max(risk.variance(x), 1e-300))

    return finish(
        method="max_sharpe",
        raw_weights=np.asarray(y.value) / float(k),
        rc=rc,
        universe=universe,
        risk=risk,
        mu=mu_v,
        outcome=outcome,
        started=started,
        objective=sharpe_ratio,
    )


def efficient_risk(
    mu: ReturnsInput,
    cov: CovInput,
    *,
    target_volatility: float,
    constraints: Constraints | None = None,
    psd: PsdPolicy = "raise",
    fallback: Fallback | str | None = None,
    solver_options: SolverOptions = None,
) -> OptimizationResult:
    """The highest expected return with volatility at most ``target_volatility``.

    Raises :class:`InfeasibleProblem` (naming the lowest achievable volatility) when the target
    is below the minimum-variance portfolio's volatility under the constraints.

    Parameters
    ----------
    mu : Series or ndarray, shape (n,)
    cov : DataFrame, ndarray of shape (n, n), or FactorModel
    target_volatility : float
        Annualised volatility limit, positive.
    constraints, psd, fallback, solver_options
        As for :func:`mean_variance`.

    Returns
    -------
    OptimizationResult
        ``objective`` is the expected return.
    """
    started = time.perf_counter()
    sigma = check_scalar(target_volatility, "target_volatility")
    if sigma <= 0:
        raise InvalidInput("target_volatility must be positive", field="target_volatility")
    universe, mu_arr, risk, rc, fb = _setup(mu, cov, constraints, psd, fallback)
    mu_v = _require_mu(mu_arr)
    import cvxpy as cp

    w = cp.Variable(universe.n)
    variance, aux = risk_expression(w, risk)
    problem = cp.Problem(
        cp.Maximize(mu_v @ w), [*aux, variance <= sigma**2, *linear_constraints(w, rc)]
    )

    def below_minimum() -> str:
        weights, _ = _min_variance_weights(universe, risk, rc, None, solver_options)
        lowest = math.sqrt(risk.variance(np.asarray(weights))) if weights is not None else math.nan
        return (
            f"target volatility {sigma:g} is below the lowest volatility the constraints allow "
            f"({lowest:.6g})"
        )

    outcome = _solve_or_explain(
        problem,
        rc,
        universe,
        fallback=fb,
        solver_options=solver_options,
        when_linear_feasible=below_minimum,
    )
    label = f"volatility <= {sigma:g}"

    def vol(x: np.ndarray) -> float:
        return math.sqrt(max(risk.variance(x), 0.0))

    return finish(
        method="efficient_risk",
        raw_weights=w.value,
        rc=rc,
        universe=universe,
        risk=risk,
        mu=mu_v,
        outcome=outcome,
        started=started,
        objective=lambda x: float(mu_v @ x),
        extra_binding=lambda x: [label] if sigma - vol(x) <= BINDING_TOLERANCE else [],
        check_extra=lambda x: (
            [f"volatility {vol(x):.6g} is above the target {sigma:g}"]
            if vol(x) > sigma + VERIFY_TOLERANCE
            else []
        ),
    )


def efficient_return(
    mu: ReturnsInput,
    cov: CovInput,
    *,
    target_return: float,
    constraints: Constraints | None = None,
    psd: PsdPolicy = "raise",
    fallback: Fallback | str | None = None,
    solver_options: SolverOptions = None,
) -> OptimizationResult:
    """The lowest-variance portfolio with expected return at least ``target_return``.

    Raises :class:`InfeasibleProblem` (naming the highest achievable return) when the target is
    above what the constraints allow.

    Parameters
    ----------
    mu : Series or ndarray, shape (n,)
    cov : DataFrame, ndarray of shape (n, n), or FactorModel
    target_return : float
        Annualised expected return to reach.
    constraints, psd, fallback, solver_options
        As for :func:`mean_variance`.

    Returns
    -------
    OptimizationResult
        ``objective`` is the variance.
    """
    started = time.perf_counter()
    target = check_scalar(target_return, "target_return")
    universe, mu_arr, risk, rc, fb = _setup(mu, cov, constraints, psd, fallback)
    mu_v = _require_mu(mu_arr)
    ceiling = max_linear(mu_v, rc.lower, rc.upper)
    if ceiling < target - BINDING_TOLERANCE:
        raise InfeasibleProblem(
            f"target return {target:g} is above the highest expected return the per-asset "
            f"bounds allow ({ceiling:.6g})",
            field="target_return",
        )
    import cvxpy as cp

    w = cp.Variable(universe.n)
    variance, aux = risk_expression(w, risk)
    problem = cp.Problem(
        cp.Minimize(variance), [*aux, mu_v @ w >= target, *linear_constraints(w, rc)]
    )
    label = f"expected return >= {target:g}"
    outcome = _solve_or_explain(
        problem,
        rc,
        universe,
        fallback=fb,
        solver_options=solver_options,
        extra=((label, "target", -mu_v, -target),),
    )
    return finish(
        method="efficient_return",
        raw_weights=w.value,
        rc=rc,
        universe=universe,
        risk=risk,
        mu=mu_v,
        outcome=outcome,
        started=started,
        objective=risk.variance,
        extra_binding=lambda x: [label] if float(mu_v @ x) - target <= BINDING_TOLERANCE else [],
        check_extra=lambda x: (
            [f"expected return {float(mu_v @ x):.6g} is below the target {target:g}"]
            if float(mu_v @ x) < target - VERIFY_TOLERANCE
            else []
        ),
    )


# --------------------------------------------------------------------------------------------
# Risk parity
# --------------------------------------------------------------------------------------------


def _risk_budgets(budgets: Any, universe: Universe) -> np.ndarray:
    if budgets is None:
        return np.full(universe.n, 1.0 / universe.n)
    b = per_asset(budgets, universe, "budgets", default=0.0)
    if (b <= 0).any():
        raise InvalidInput(
            "risk budgets must be positive for every asset (leave an asset out of the covariance "
            f"instead): {universe.labels(np.flatnonzero(b <= 0))}",
            field="budgets",
        )
    return np.asarray(b / b.sum())


def _log_barrier_newton(
    cov: np.ndarray, budgets: np.ndarray, max_iterations: int
) -> tuple[np.ndarray, int]:
    """Minimise ``y'Sigma y / 2 - sum(b_i log y_i)`` by damped Newton steps; returns ``y``."""
    y = np.sqrt(budgets / np.diag(cov))

    def f(v: np.ndarray) -> float:
        return 0.5 * float(v @ cov @ v) - float(budgets @ np.log(v))

    for iteration in range(1, max_iterations + 1):
        grad = cov @ y - budgets / y
        hess = cov + np.diag(budgets / y**2)
        step = -np.linalg.solve(hess, grad)
        decrement = -float(grad @ step)
        if decrement / 2.0 <= 1e-24:
            return y, iteration
        t = 1.0
        while (y + t * step <= 0).any():
            t *= 0.5
        f0 = f(y)
        while f(y + t * step) > f0 - 0.25 * t * decrement and t > 1e-12:
            t *= 0.5
        y = y + t * step
    return y, max_iterations


def risk_parity(
    cov: CovInput,
    *,
    budgets: pd.Series | np.ndarray | Mapping[str, float] | None = None,
    mu: ReturnsInput | None = None,
    psd: PsdPolicy = "raise",
    max_iterations: int = 100,
) -> OptimizationResult:
    """Equal (or budgeted) risk contributions, solved exactly.

    The risk-budgeting portfolio is ``w = y / sum(y)`` for the unique minimiser ``y > 0`` of the
    strictly convex log-barrier problem ``y'Sigma y / 2 - sum(b_i log y_i)`` (Maillard,
    Roncalli and Teiletche 2010; Spinu 2013), at which ``y_i (Sigma y)_i = b_i``: each asset's
    share of the portfolio's variance equals its budget. It is found by Newton's method with a
    backtracking line search, to machine precision, and checked.

    Parameters
    ----------
    cov : DataFrame, ndarray of shape (n, n), or FactorModel
        Positive definite covariance.
    budgets : Series, mapping or ndarray, shape (n,), optional
        Positive risk budgets (normalised to sum to one); equal when omitted.
    mu : Series or ndarray, shape (n,), optional
        Expected returns, only to report the portfolio's expected return.
    psd : {"raise", "repair"}
        As for :func:`mean_variance` (a repaired matrix must still be positive definite).
    max_iterations : int
        Newton iterations allowed before :class:`SolverFailure`.

    Returns
    -------
    OptimizationResult
        ``solver`` is ``"newton"``; ``objective`` is the largest absolute difference between an
        asset's share of risk and its budget (about 1e-15).
    """
    started = time.perf_counter()
    universe, mu_arr, risk = prepare_inputs(mu, cov, psd)
    matrix = risk.matrix()
    b = _risk_budgets(budgets, universe)
    try:
        np.linalg.cholesky(matrix)
    except np.linalg.LinAlgError:
        raise InvalidInput(
            "risk parity needs a positive definite covariance (some portfolio of these assets "
            "has zero variance)",
            field="cov",
        ) from None
    scale = float(np.mean(np.diag(matrix)))
    y, iterations = _log_barrier_newton(matrix / scale, b, max_iterations)
    w = y / y.sum()
    shares = w * (matrix @ w) / float(w @ matrix @ w)
    deviation = float(np.abs(shares - b).max())
    if not np.isfinite(deviation) or deviation > 1e-8:
        raise SolverFailure(
            f"risk parity did not converge in {iterations} Newton iterations (largest budget "
            f"error {deviation:.3g})",
            details={"iterations": iterations},
        )
    return finish(
        method="risk_parity",
        raw_weights=w,
        rc=None,
        universe=universe,
        risk=risk,
        mu=mu_arr,
        outcome=SolveOutcome("optimal", "newton", None),
        started=started,
        objective=lambda x: deviation,
    )


def inverse_volatility(
    cov: CovInput, *, mu: ReturnsInput | None = None, psd: PsdPolicy = "raise"
) -> OptimizationResult:
    """Weights proportional to ``1 / sigma_i`` (risk parity when correlations are equal).

    Parameters
    ----------
    cov : DataFrame, ndarray of shape (n, n), or FactorModel
    mu : Series or ndarray, shape (n,), optional
        Expected returns, only to report the portfolio's expected return.
    psd : {"raise", "repair"}
        As for :func:`mean_variance`.
    """
    started = time.perf_counter()
    universe, mu_arr, risk = prepare_inputs(mu, cov, psd)
    variances = np.diag(risk.matrix())
    if (variances <= 0).any():
        raise InvalidInput(
            f"assets with zero variance: {universe.labels(np.flatnonzero(variances <= 0))}",
            field="cov",
        )
    inv = 1.0 / np.sqrt(variances)
    return finish(
        method="inverse_volatility",
        raw_weights=inv / inv.sum(),
        rc=None,
        universe=universe,
        risk=risk,
        mu=mu_arr,
        outcome=SolveOutcome("optimal", "closed form", None),
        started=started,
        objective=lambda x: 0.0,
    )


# --------------------------------------------------------------------------------------------
# Black-Litterman
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class BlackLittermanResult:
    """Posterior of the Black-Litterman model.

    Attributes
    ----------
    prior_returns : Series or ndarray, shape (n,)
        Equilibrium excess returns ``Pi = delta Sigma w_mkt``.
    posterior_returns : Series or ndarray, shape (n,)
        ``Pi + tau Sigma P' (P tau Sigma P' + Omega)^-1 (Q - P Pi)``.
    posterior_cov : DataFrame or ndarray, shape (n, n)
        ``Sigma + M`` with ``M = tau Sigma - tau Sigma P' (P tau Sigma P' + Omega)^-1 P tau Sigma``
        (He and Litterman 1999), the covariance to optimise with.
    omega : ndarray, shape (k, k)
        The view uncertainty used (``inf`` on the diagonal for a view held with 0% confidence,
        which leaves the prior unchanged).
    """

    prior_returns: pd.Series | np.ndarray
    posterior_returns: pd.Series | np.ndarray
    posterior_cov: pd.DataFrame | np.ndarray
    omega: np.ndarray


def market_implied_prior(
    cov: pd.DataFrame | np.ndarray,
    market_weights: pd.Series | np.ndarray,
    *,
    risk_aversion: float,
) -> pd.Series | np.ndarray:
    """Equilibrium excess returns ``Pi = delta Sigma w_mkt`` implied by market weights.

    Parameters
    ----------
    cov : DataFrame or ndarray, shape (n, n)
    market_weights : Series or ndarray, shape (n,)
        Market-capitalisation weights, summing to one.
    risk_aversion : float
        The market's ``delta`` (see :func:`portfolios.core.estimate.market_implied_risk_aversion`).
    """
    universe, cov_m, w_mkt, delta = _bl_inputs(cov, market_weights, risk_aversion, "raise")
    return universe.vector_out(delta * cov_m @ w_mkt)


def _bl_inputs(
    cov: Any, market_weights: Any, risk_aversion: float, psd: PsdPolicy
) -> tuple[Universe, np.ndarray, np.ndarray, float]:
    if isinstance(cov, FactorModel):
        raise InvalidInput("Black-Litterman needs a dense covariance matrix", field="cov")
    universe, _, risk = prepare_inputs(None, cov, psd)
    assert risk.dense is not None
    delta = check_scalar(risk_aversion, "risk_aversion")
    if delta <= 0:
        raise InvalidInput("risk_aversion must be positive", field="risk_aversion")
    if isinstance(market_weights, pd.Series) and universe.symbols is None:
        universe = Universe(n=universe.n, symbols=tuple(str(s) for s in market_weights.index))
        values = market_weights.to_numpy(dtype=float)
        if values.shape != (universe.n,):
            raise InvalidInput(
                "market_weights must have one entry per asset", field="market_weights"
            )
        w_mkt = values
    elif isinstance(market_weights, pd.Series):
        labels = {str(s) for s in market_weights.index}
        if labels != set(universe.symbols or ()):
            raise InvalidInput(
                "market_weights and cov name different assets", field="market_weights"
            )
        w_mkt = per_asset(market_weights, universe, "market_weights", default=0.0)
    else:
        w_mkt = per_asset(market_weights, universe, "market_weights", default=0.0)
    if not np.isfinite(w_mkt).all():
        raise InvalidInput("market_weights must be finite", field="market_weights")
    if abs(float(w_mkt.sum()) - 1.0) > 1e-6:
        raise InvalidInput(
            f"market_weights sum to {float(w_mkt.sum()):.6g}, not 1", field="market_weights"
        )
    return universe, risk.dense, np.asarray(w_mkt), delta


def _pick_matrix(P: Views, universe: Universe) -> tuple[np.ndarray, pd.Index | None]:
    if isinstance(P, pd.DataFrame):
        if universe.symbols is None:
            raise InvalidInput("P is labelled but the covariance has no symbols", field="P")
        unknown = [str(c) for c in P.columns if str(c) not in universe.position()]
        if unknown:
            raise InvalidInput(f"P names symbols outside the universe: {unknown[:8]}", field="P")
        aligned = P.fillna(0.0)  # a labelled view omits the assets it does not involve
        aligned.columns = [str(c) for c in P.columns]
        matrix = aligned.reindex(columns=list(universe.symbols), fill_value=0.0).to_numpy(
            dtype=float
        )
        return matrix, pd.Index(P.index)
    if isinstance(P, pd.Series):
        return _pick_matrix(P.to_frame().T, universe)
    matrix = np.atleast_2d(np.asarray(P, dtype=float))
    if matrix.ndim != 2 or matrix.shape[1] != universe.n:
        raise InvalidInput(
            f"P must be (k, {universe.n}): one row per view, one column per asset; got "
            f"{np.shape(P)}",
            field="P",
        )
    return matrix, None


def black_litterman(
    cov: pd.DataFrame | np.ndarray,
    market_weights: pd.Series | np.ndarray,
    *,
    risk_aversion: float,
    tau: float,
    P: Views,
    Q: pd.Series | np.ndarray,
    omega: pd.DataFrame | np.ndarray | None = None,
    confidences: pd.Series | np.ndarray | None = None,
    psd: PsdPolicy = "raise",
) -> BlackLittermanResult:
    """Black-Litterman posterior returns and covariance (He and Litterman 1999).

    The prior is the equilibrium ``Pi = delta Sigma w_mkt``. Views say ``P mu = Q + e`` with
    ``e ~ N(0, Omega)``; the posterior is ``mu ~ N(mu_BL, M)`` with
    ``mu_BL = Pi + tau Sigma P' (P tau Sigma P' + Omega)^-1 (Q - P Pi)`` and
    ``M = tau Sigma - tau Sigma P' (P tau Sigma P' + Omega)^-1 P tau Sigma``; returns are then
    distributed with covariance ``Sigma + M``.

    ``Omega`` is, in order of precedence: ``omega`` as given; from Idzorek ``confidences`` in
    [0, 1] with the closed form ``omega_k = tau (1 - c_k) / c_k * p_k Sigma p_k'`` (100% makes
    the posterior satisfy the view exactly, 0% leaves the prior unchanged); or He and Litterman's
    ``diag(P tau Sigma P')``.

    Parameters
    ----------
    cov : DataFrame or ndarray, shape (n, n)
        Annualised covariance ``Sigma``.
    market_weights : Series or ndarray, shape (n,)
        Market-capitalisation weights (sum to one).
    risk_aversion : float
        ``delta`` > 0.
    tau : float
        Scale of the uncertainty of the prior, > 0 (commonly 0.025-0.05).
    P : DataFrame (views x symbols), Series (one view) or ndarray, shape (k, n)
        Picking matrix; a labelled ``P`` may omit assets or leave them NaN (weight 0).
    Q : Series or ndarray, shape (k,)
        Expected (excess) return of each view portfolio.
    omega : DataFrame or ndarray, shape (k, k), optional
        View uncertainty (positive semidefinite).
    confidences : Series or ndarray, shape (k,), optional
        Idzorek confidences in [0, 1]; not together with ``omega``.
    psd : {"raise", "repair"}
        For a covariance that is not positive semidefinite.

    Returns
    -------
    BlackLittermanResult
    """
    universe, sigma, w_mkt, delta = _bl_inputs(cov, market_weights, risk_aversion, psd)
    t = check_scalar(tau, "tau")
    if t <= 0:
        raise InvalidInput("tau must be positive", field="tau")
    pick, view_index = _pick_matrix(P, universe)
    k = pick.shape[0]
    if isinstance(Q, pd.Series) and view_index is not None and set(Q.index) == set(view_index):
        q = Q.reindex(view_index).to_numpy(dtype=float)
    else:
        q = np.asarray(Q, dtype=float).reshape(-1)
    if q.shape != (k,):
        raise InvalidInput(f"Q must have one entry per view ({k}), got shape {q.shape}", field="Q")
    if not (np.isfinite(pick).all() and np.isfinite(q).all()):
        raise InvalidInput("P and Q must be finite", field="Q")
    if omega is not None and confidences is not None:
        raise InvalidInput("give either omega or confidences, not both", field="omega")

    prior = delta * sigma @ w_mkt
    tau_sigma = t * sigma
    view_var = np.einsum("ij,jk,ik->i", pick, tau_sigma, pick)
    active = np.ones(k, dtype=bool)
    if omega is not None:
        om = np.asarray(
            omega.to_numpy(dtype=float) if isinstance(omega, pd.DataFrame) else omega, dtype=float
        )
        if om.shape != (k, k):
            raise InvalidInput(f"omega must be ({k}, {k}), got {om.shape}", field="omega")
        om, _ = checked_covariance(om, "raise", name="omega") if k else (om, False)
    elif confidences is not None:
        conf = np.asarray(
            confidences.to_numpy(dtype=float)
            if isinstance(confidences, pd.Series)
            else confidences,
            dtype=float,
        ).reshape(-1)
        if conf.shape != (k,):
            raise InvalidInput(
                f"confidences must have one entry per view ({k}), got shape {conf.shape}",
                field="confidences",
            )
        if not np.isfinite(conf).all() or ((conf < 0) | (conf > 1)).any():
            raise InvalidInput("confidences must be within [0, 1]", field="confidences")
        active = conf > 0
        with np.errstate(divide="ignore"):
            diag = np.where(active, (1.0 - conf) / np.where(active, conf, 1.0) * view_var, np.inf)
        om = np.diag(diag)
    else:
        om = np.diag(view_var)

    posterior = prior.copy()
    m = tau_sigma.copy()
    if active.any():
        pa = pick[active]
        oa = om[np.ix_(active, active)]
        a = pa @ tau_sigma @ pa.T + oa
        try:
            gain = np.linalg.solve(
                a, np.hstack([(q[active] - pa @ prior)[:, None], pa @ tau_sigma])
            )
        except np.linalg.LinAlgError:
            raise InvalidInput(
                "the views are redundant with full certainty (P tau Sigma P' + Omega is singular)",
                field="P",
            ) from None
        posterior = prior + tau_sigma @ pa.T @ gain[:, 0]
        m = tau_sigma - tau_sigma @ pa.T @ gain[:, 1:]
    post_cov = sigma + (m + m.T) / 2.0
    return BlackLittermanResult(
        prior_returns=universe.vector_out(prior),
        posterior_returns=universe.vector_out(posterior),
        posterior_cov=universe.matrix_out(post_cov),
        omega=om,
    )
