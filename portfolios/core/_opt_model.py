"""Inputs, risk models, solver calls and results shared by the optimisers.

Private helper of :mod:`portfolios.core.optimize`, which re-exports :class:`OptimizationResult`
and :class:`Fallback`. cvxpy is imported inside functions: it costs about a second at import.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

import numpy as np
import pandas as pd

from portfolios.core._opt_constraints import (
    ResolvedConstraints,
    binding_constraints,
    clean_weights,
    violations,
)
from portfolios.core._opt_universe import Universe
from portfolios.core.errors import InvalidInput, SolverFailure
from portfolios.core.estimate import FactorModel

if TYPE_CHECKING:
    import cvxpy as cp

PsdPolicy = Literal["raise", "repair"]
ReturnsInput: TypeAlias = pd.Series | np.ndarray
CovInput: TypeAlias = pd.DataFrame | np.ndarray | FactorModel

SOLVER = "CLARABEL"


class Fallback(StrEnum):
    """What an optimiser may do when the solver does not reach an optimal solution.

    Infeasible problems are never "fallen back" from: they always raise
    :class:`~portfolios.core.errors.InfeasibleProblem`. Whatever the fallback, its answer must
    pass the same constraint check as an optimal one, and it is recorded on the result.
    """

    #: Accept a solution the solver reports as optimal but inaccurate (or stalled with a
    #: solution), if it satisfies every constraint.
    ACCEPT_INACCURATE = "accept_inaccurate"
    #: Solve again with SCS (a first-order conic solver) at tight tolerances.
    RETRY_SCS = "retry_scs"


@dataclass(frozen=True, eq=False)
class OptimizationResult:
    """Weights and the diagnostics an advisor needs to trust them.

    Attributes
    ----------
    weights : Series (indexed by symbol) or ndarray, shape (n,)
        Portfolio weights, summing to one; of the same kind as the inputs (an array is
        read-only: copy it to change it).
    method : str
        The optimiser, e.g. ``"mean_variance"``.
    solver : str
        The solver that produced the weights (``"CLARABEL"``, ``"SCS"``, ``"newton"``,
        ``"closed form"``).
    status : str
        The solver's status (``"optimal"`` unless a recorded fallback accepted something else).
    objective : float
        The optimised quantity at the weights, in its natural sense: the mean-variance utility
        ``w'mu - (lambda/2) w'Sigma w``, the variance, the Sharpe ratio, the expected return, or
        for risk parity the largest deviation of a risk contribution from its budget.
    esg_score : float or None
        The portfolio's weighted ESG score, when scores were given.
    expected_return : float or None
        ``w'mu``, when expected returns were given.
    volatility : float
        ``sqrt(w'Sigma w)``.
    binding_constraints : tuple of str
        Constraints with (near) zero slack, e.g. ``"ESG floor 70"``, ``"cap 0.25 on XOM"``,
        ``"sector Energy <= 0.2"``, ``"turnover <= 0.1"``.
    fallback : str or None
        What fallback produced the weights, or ``None`` for a plain optimal solve.
    psd_repaired : bool
        Whether the covariance was replaced by its nearest positive semidefinite matrix.
    solve_time_s : float
        Wall time of the whole call, in seconds.
    """

    weights: pd.Series | np.ndarray
    method: str
    solver: str
    status: str
    objective: float
    esg_score: float | None
    expected_return: float | None
    volatility: float
    binding_constraints: tuple[str, ...]
    fallback: str | None
    psd_repaired: bool
    solve_time_s: float


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class RiskModel:
    """A covariance in the form the problem uses: dense, or a factor model."""

    dense: np.ndarray | None
    factor: FactorModel | None
    psd_repaired: bool

    def variance(self, w: np.ndarray) -> float:
        if self.dense is not None:
            return float(w @ self.dense @ w)
        assert self.factor is not None
        exposure = self.factor.loadings.T @ w
        return float(
            exposure @ self.factor.factor_covariance @ exposure
            + (self.factor.specific_variance * w**2).sum()
        )

    def matrix(self) -> np.ndarray:
        if self.dense is not None:
            return self.dense
        assert self.factor is not None
        cov = self.factor.covariance()
        return cov.to_numpy() if isinstance(cov, pd.DataFrame) else cov


def validate_psd_policy(psd: str) -> None:
    if psd not in ("raise", "repair"):
        raise InvalidInput(f"psd must be 'raise' or 'repair', got {psd!r}", field="psd")


def nearest_psd(matrix: np.ndarray) -> np.ndarray:
    """The nearest positive semidefinite matrix in the Frobenius norm (Higham 1988): the
    symmetric part with its negative eigenvalues set to zero."""
    sym = (matrix + matrix.T) / 2.0
    eig, vec = np.linalg.eigh(sym)
    fixed = (vec * np.maximum(eig, 0.0)) @ vec.T
    return np.asarray((fixed + fixed.T) / 2.0)


def checked_covariance(
    values: np.ndarray, psd: PsdPolicy, name: str = "cov"
) -> tuple[np.ndarray, bool]:
    """Validate a dense covariance: finite, square, symmetric and PSD (or repaired if asked)."""
    validate_psd_policy(psd)
    if values.ndim != 2 or values.shape[0] != values.shape[1]:
        raise InvalidInput(f"{name} must be a square matrix, got shape {values.shape}", field=name)
    if values.shape[0] == 0:
        raise InvalidInput(f"{name} is empty: the universe has no assets", field=name)
    if not np.isfinite(values).all():
        what = "NaN" if np.isnan(values).any() else "infinite"
        raise InvalidInput(f"{name} contains {what} values", field=name)
    scale = max(float(np.abs(values).max()), 1e-300)
    asym = float(np.abs(values - values.T).max())
    if asym > 1e-8 * scale:
        raise InvalidInput(
            f"{name} is not symmetric (largest difference {asym:.3g} between mirrored entries)",
            field=name,
        )
    sym = (values + values.T) / 2.0
    try:
        np.linalg.cholesky(sym)
        return sym, False
    except np.linalg.LinAlgError:
        pass
    eig = np.linalg.eigvalsh(sym)
    if eig.min() >= -1e-10 * max(float(np.abs(eig).max()), 1e-300):
        return sym, False
    if psd == "raise":
        raise InvalidInput(
            f"{name} is not positive semidefinite (smallest eigenvalue {eig.min():.3g}); pass "
            "psd='repair' to use the nearest positive semidefinite matrix instead",
            field=name,
        )
    return nearest_psd(sym), True


def _vector(values: Any, n: int, name: str) -> np.ndarray:
    try:
        out = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{name} must be numeric", field=name) from exc
    if out.shape != (n,):
        raise InvalidInput(f"{name} must have {n} entries, got shape {out.shape}", field=name)
    if not np.isfinite(out).all():
        what = "NaN" if np.isnan(out).any() else "infinite"
        raise InvalidInput(f"{name} contains {what} values", field=name)
    return out.copy()


def prepare_inputs(
    mu: ReturnsInput | None, cov: CovInput, psd: PsdPolicy
) -> tuple[Universe, np.ndarray | None, RiskModel]:
    """Align expected returns and a covariance (dense or factor model) into one universe."""
    validate_psd_policy(psd)
    if isinstance(cov, FactorModel):
        n = cov.n_assets
        symbols = cov.symbols
        risk = RiskModel(dense=None, factor=cov, psd_repaired=False)
    elif isinstance(cov, pd.DataFrame):
        idx, cols = [str(s) for s in cov.index], [str(s) for s in cov.columns]
        if idx != cols:
            if set(idx) != set(cols):
                raise InvalidInput(
                    "cov must have the same symbols as rows and columns", field="cov"
                )
            cov = cov.reindex(columns=cov.index)
        if len(set(idx)) != len(idx):
            raise InvalidInput("cov has duplicate symbols", field="cov")
        try:
            values = cov.to_numpy(dtype=float)
        except (TypeError, ValueError) as exc:
            raise InvalidInput("cov must be numeric", field="cov") from exc
        dense, repaired = checked_covariance(values, psd)
        n, symbols = dense.shape[0], tuple(idx)
        risk = RiskModel(dense=dense, factor=None, psd_repaired=repaired)
    elif isinstance(cov, np.ndarray):
        try:
            values = np.asarray(cov, dtype=float)
        except (TypeError, ValueError) as exc:
            raise InvalidInput("cov must be numeric", field="cov") from exc
        dense, repaired = checked_covariance(values, psd)
        n, symbols = dense.shape[0], None
        risk = RiskModel(dense=dense, factor=None, psd_repaired=repaired)
    else:
        raise InvalidInput(
            f"cov must be a DataFrame, a numpy array or a FactorModel, got {type(cov).__name__}",
            field="cov",
        )
    mu_arr: np.ndarray | None = None
    if mu is not None:
        if isinstance(mu, pd.Series):
            labels = [str(s) for s in mu.index]
            if symbols is None:
                symbols = tuple(labels)
                mu_arr = _vector(mu.to_numpy(dtype=float, na_value=np.nan), n, "mu")
            else:
                if set(labels) != set(symbols) or len(labels) != n:
                    missing = sorted(set(symbols) - set(labels))
                    extra = sorted(set(labels) - set(symbols))
                    raise InvalidInput(
                        "mu and cov name different assets "
                        f"(missing from mu: {missing[:8]}, not in cov: {extra[:8]})",
                        field="mu",
                    )
                aligned = mu.copy()
                aligned.index = labels
                mu_arr = _vector(aligned.reindex(list(symbols)).to_numpy(dtype=float), n, "mu")
        else:
            mu_arr = _vector(mu, n, "mu")
    return Universe(n=n, symbols=symbols), mu_arr, risk


# --------------------------------------------------------------------------------------------
# cvxpy pieces
# --------------------------------------------------------------------------------------------


def risk_expression(x: cp.Variable, risk: RiskModel) -> tuple[cp.Expression, list[cp.Constraint]]:
    """``x' Sigma x`` as a cvxpy expression.

    A factor model is written ``||F^{1/2} B' x||^2 + ||D^{1/2} x||^2`` with auxiliary factor
    exposures ``z = B' x``: the quadratic terms ``z' F z`` and ``x' diag(D) x`` reach the solver as
    a sparse objective matrix (k x k dense plus a diagonal) instead of a dense n x n one.
    """
    import cvxpy as cp
    import scipy.sparse as sparse

    if risk.dense is not None:
        return cp.quad_form(x, cp.psd_wrap(risk.dense)), []
    assert risk.factor is not None
    fm = risk.factor
    exposure = cp.Variable(fm.n_factors)
    expr = cp.quad_form(exposure, cp.psd_wrap(fm.factor_covariance)) + cp.quad_form(
        x, cp.psd_wrap(sparse.diags(fm.specific_variance, format="csc"))
    )
    return expr, [exposure == fm.loadings.T @ x]


def linear_constraints(
    x: cp.Variable, rc: ResolvedConstraints, scale: cp.Expression | float = 1.0
) -> list[cp.Constraint]:
    """Budget, bounds, ESG floor, group bounds and turnover on ``x``; with ``scale`` (the
    homogenising variable of max_sharpe) every right-hand side is multiplied by it."""
    import cvxpy as cp

    cons: list[cp.Constraint] = [cp.sum(x) == scale]
    cons.append(x >= rc.lower * scale if rc.lower.any() else x >= 0)
    cons.append(x <= rc.upper * scale)
    if rc.esg_floor is not None and rc.esg_scores is not None:
        cons.append(np.nan_to_num(rc.esg_scores, nan=0.0) @ x >= rc.esg_floor * scale)
    for g in rc.groups:
        total = g.mask.astype(float) @ x
        if g.lower > 0.0:
            cons.append(total >= g.lower * scale)
        if g.upper < 1.0:
            cons.append(total <= g.upper * scale)
    if rc.max_turnover is not None and rc.current is not None:
        trade = cp.Variable(x.shape[0], nonneg=True)
        cons += [
            trade >= x - rc.current * scale,
            trade >= rc.current * scale - x,
            cp.sum(trade) / 2.0 <= rc.max_turnover * scale,
        ]
    return cons


class SolverInfeasible(Exception):
    """Internal: the solver reported the problem infeasible (explained by the caller)."""

    def __init__(self, status: str) -> None:
        super().__init__(status)
        self.status = status


@dataclass(frozen=True)
class SolveOutcome:
    status: str
    solver: str
    fallback: str | None


def parse_fallback(fallback: Fallback | str | None) -> Fallback | None:
    if fallback is None:
        return None
    try:
        return Fallback(fallback)
    except ValueError as exc:
        choices = ", ".join(repr(f.value) for f in Fallback)
        raise InvalidInput(
            f"fallback must be None or one of {choices}, got {fallback!r}", field="fallback"
        ) from exc


def solve_problem(
    problem: cp.Problem,
    *,
    fallback: Fallback | None,
    solver_options: Mapping[str, Any] | None,
    warm_start: bool = False,
) -> SolveOutcome:
    """Solve with Clarabel and check the status: ``optimal`` or a recorded fallback, else raise.

    Raises :class:`SolverInfeasible` for an infeasible status (the caller names the conflict)
    and :class:`SolverFailure` for anything else that is not optimal.
    """
    import cvxpy as cp

    options = dict(solver_options or {})
    if fallback is Fallback.ACCEPT_INACCURATE:
        options.setdefault("accept_unknown", True)
    if warm_start:
        options.setdefault("presolve_enable", False)
    try:
        with warnings.catch_warnings():
            # The status is checked below; cvxpy's generic advice would only be noise.
            warnings.filterwarnings("ignore", message="Solution may be inaccurate")
            problem.solve(solver=cp.CLARABEL, warm_start=warm_start, **options)
        status = str(problem.status)
        detail = ""
    except cp.error.SolverError as exc:
        status, detail = "solver_error", str(exc)
    if status == cp.OPTIMAL:
        return SolveOutcome(status, SOLVER, None)
    if status in (cp.INFEASIBLE, cp.INFEASIBLE_INACCURATE):
        raise SolverInfeasible(status)
    if status == cp.OPTIMAL_INACCURATE and fallback is Fallback.ACCEPT_INACCURATE:
        return SolveOutcome(
            status, SOLVER, f"accepted an inaccurate ({status}) solution from {SOLVER}"
        )
    if fallback is Fallback.RETRY_SCS:
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="Solution may be inaccurate")
                problem.solve(
                    solver=cp.SCS, eps_abs=1e-9, eps_rel=1e-9, max_iters=200_000, warm_start=False
                )
            retry_status = str(problem.status)
        except cp.error.SolverError:
            retry_status = "solver_error"
        if retry_status == cp.OPTIMAL:
            return SolveOutcome(
                retry_status, "SCS", f"{SOLVER} ended with status {status}; solved again with SCS"
            )
        if retry_status in (cp.INFEASIBLE, cp.INFEASIBLE_INACCURATE):
            raise SolverInfeasible(retry_status)
        status = f"{status}; SCS: {retry_status}"
    if status.startswith(cp.UNBOUNDED):
        raise SolverFailure(
            "the optimisation is unbounded; check the expected returns and covariance",
            details={"status": status},
        )
    raise SolverFailure(
        f"the solver did not reach an optimal solution (status {status})"
        + (f": {detail}" if detail else "")
        + "; pass fallback= to accept a recorded fallback",
        details={"status": status},
    )


def finish(
    *,
    method: str,
    raw_weights: np.ndarray | None,
    rc: ResolvedConstraints | None,
    universe: Universe,
    risk: RiskModel,
    mu: np.ndarray | None,
    outcome: SolveOutcome,
    started: float,
    objective: Callable[[np.ndarray], float],
    extra_binding: Callable[[np.ndarray], list[str]] | None = None,
    check_extra: Callable[[np.ndarray], list[str]] | None = None,
) -> OptimizationResult:
    """Verify a solution against the constraints, clean it, and build the result.

    ``objective(w)`` computes the reported objective from the final weights,
    ``extra_binding(w)`` names binding constraints beyond the shared ones (a volatility or return
    target) and ``check_extra(w)`` describes violations of them.
    """
    if raw_weights is None:
        raise SolverFailure(
            f"{method}: the solver returned no weights", details={"status": outcome.status}
        )
    w = np.asarray(raw_weights, dtype=float).reshape(-1)
    if rc is not None:
        problems = violations(rc, w, universe)
        if check_extra is not None:
            problems += check_extra(w)
        if problems:
            raise SolverFailure(
                f"{method}: the solver's answer breaks constraints ({'; '.join(problems)})",
                details={"status": outcome.status, "violations": problems},
            )
        w = clean_weights(rc, w)
        binding = binding_constraints(rc, w, universe)
        esg = (
            float(np.nan_to_num(rc.esg_scores, nan=0.0) @ w) if rc.esg_scores is not None else None
        )
    else:
        binding, esg = [], None
    if extra_binding is not None:
        binding += extra_binding(w)
    variance = risk.variance(w)
    w.setflags(write=False)
    return OptimizationResult(
        weights=universe.vector_out(w.copy()) if universe.symbols is not None else w,
        method=method,
        solver=outcome.solver,
        status=outcome.status,
        objective=float(objective(w)),
        esg_score=esg,
        expected_return=float(mu @ w) if mu is not None else None,
        volatility=math.sqrt(max(variance, 0.0)),
        binding_constraints=tuple(binding),
        fallback=outcome.fallback,
        psd_repaired=risk.psd_repaired,
        solve_time_s=time.perf_counter() - started,
    )
