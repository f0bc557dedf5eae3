"""The fast path: one compiled mean-variance problem per universe, solved for many clients.

Private helper of :mod:`portfolios.core.optimize`, which re-exports
:class:`RecommendationProblem`.
"""

from __future__ import annotations

import dataclasses
import time
from collections import OrderedDict
from collections.abc import Hashable, Mapping, Sequence
from typing import Any, TypeAlias

import numpy as np
import pandas as pd

from portfolios.core._opt_constraints import (
    Constraints,
    ResolvedConstraints,
    check_feasibility,
    explain_infeasibility,
    resolve,
)
from portfolios.core._opt_model import (
    CovInput,
    Fallback,
    OptimizationResult,
    PsdPolicy,
    ReturnsInput,
    SolverInfeasible,
    finish,
    parse_fallback,
    prepare_inputs,
    risk_expression,
    solve_problem,
)
from portfolios.core._opt_universe import Universe, check_scalar, per_asset
from portfolios.core.errors import InfeasibleProblem, InvalidInput

Labels: TypeAlias = pd.Series | Sequence[str] | np.ndarray | Mapping[str, str]

#: Turnover limit standing for "no limit" (one-way turnover never exceeds 1 + sum(current) / 2).
_NO_TURNOVER_LIMIT = 10.0


def _group_labels(labels: Labels | None, universe: Universe, name: str) -> list[str] | None:
    if labels is None:
        return None
    if isinstance(labels, pd.Series | Mapping):
        if universe.symbols is None:
            raise InvalidInput(
                f"{name} is given by symbol but the inputs have no symbols", field=name
            )
        table = {str(k): v for k, v in labels.items()}
        missing = [s for s in universe.symbols if s not in table]
        if missing:
            raise InvalidInput(f"{name} lacks {', '.join(missing[:8])}", field=name)
        return [str(table[s]) for s in universe.symbols]
    values = [str(v) for v in labels]
    if len(values) != universe.n:
        raise InvalidInput(f"{name} must label each of the {universe.n} assets", field=name)
    return values


class RecommendationProblem:
    """Mean-variance recommendations for many clients of one universe, compiled once.

    The problem ``max w'mu - (lambda/2) w'Sigma w`` under the shared :class:`Constraints` is
    built once as a cvxpy problem whose per-client inputs are DPP parameters: the risk aversion,
    the per-asset lower bounds and caps (exclusions are caps of zero), the ESG floor, the bounds
    of every asset class and sector, and, when built with ``turnover=True``, the current weights
    and turnover limit. Each :meth:`recommend` sets the parameters and re-solves; cvxpy reuses the
    compiled problem and Clarabel's solver workspace (warm start by data update), so a solve costs
    the interior-point iterations only. Clients whose inputs are identical share one solve
    through a bounded cache.

    With a :class:`~portfolios.core.estimate.FactorModel` the risk is written as
    ``||F^{1/2} B'w||^2 + ||D^{1/2} w||^2`` with auxiliary factor exposures ``B'w``, which keeps
    the problem sparse for large universes.

    An instance is not thread-safe: use one per thread or process.

    Parameters
    ----------
    mu : Series or ndarray, shape (n,)
        Annualised expected returns, shared by every client.
    cov : DataFrame, ndarray of shape (n, n), or FactorModel
        Annualised covariance, shared by every client.
    esg_scores : Series, mapping or ndarray, shape (n,), optional
        ESG scores of the universe (NaN for an unscored asset, which a client with a floor must
        exclude). Needed for ESG floors.
    asset_classes, sectors : Series, mapping or sequence of str, shape (n,), optional
        The asset class / sector of each asset. They define the groups a client's
        ``asset_class_bounds`` / ``sector_bounds`` may bound (by name; members may be omitted).
    turnover : bool
        Support turnover limits (adds ``n`` auxiliary variables).
    psd : {"raise", "repair"}
        As for :func:`~portfolios.core.optimize.mean_variance`.
    fallback : Fallback, optional
        As for :func:`~portfolios.core.optimize.mean_variance`.
    solver_options : mapping, optional
        Clarabel settings.
    cache_size : int
        Most recent distinct client inputs whose results are kept (0 disables the cache).
    """

    def __init__(
        self,
        mu: ReturnsInput,
        cov: CovInput,
        *,
        esg_scores: pd.Series | np.ndarray | Mapping[str, float] | None = None,
        asset_classes: Labels | None = None,
        sectors: Labels | None = None,
        turnover: bool = False,
        psd: PsdPolicy = "raise",
        fallback: Fallback | str | None = None,
        solver_options: Mapping[str, Any] | None = None,
        cache_size: int = 4096,
    ) -> None:
        import cvxpy as cp

        self._fallback = parse_fallback(fallback)
        self._solver_options = dict(solver_options or {})
        if isinstance(cache_size, bool) or not isinstance(cache_size, int) or cache_size < 0:
            raise InvalidInput("cache_size must be a non-negative integer", field="cache_size")
        self._cache_size = cache_size
        self._cache: OrderedDict[Hashable, OptimizationResult] = OrderedDict()
        self.distinct_solves = 0
        self.cache_hits = 0

        universe, mu_arr, risk = prepare_inputs(mu, cov, psd)
        if mu_arr is None:
            raise InvalidInput("expected returns mu are required", field="mu")
        self._universe, self._mu, self._risk = universe, mu_arr, risk
        n = universe.n
        self._scores: np.ndarray | None = None
        if esg_scores is not None:
            self._scores = per_asset(
                esg_scores, universe, "esg_scores", default=np.nan, allow_nan=True
            )

        self._groups: dict[tuple[str, str], np.ndarray] = {}
        for kind, labels in (("asset class", asset_classes), ("sector", sectors)):
            values = _group_labels(
                labels, universe, "asset_classes" if kind == "asset class" else "sectors"
            )
            if values is None:
                continue
            arr = np.asarray(values)
            for name in sorted(set(values)):
                mask = arr == name
                mask.setflags(write=False)
                self._groups[(kind, name)] = mask
        self._group_index = {key: i for i, key in enumerate(self._groups)}
        m = len(self._groups)

        self._gamma = cp.Parameter(nonneg=True, name="risk_aversion")
        self._lower = cp.Parameter(n, name="lower")
        self._upper = cp.Parameter(n, name="upper")
        w = cp.Variable(n, name="weights")
        variance, aux = risk_expression(w, risk)
        cons = [*aux, cp.sum(w) == 1.0, w >= self._lower, w <= self._upper]
        self._floor: cp.Parameter | None = None
        if self._scores is not None:
            self._floor = cp.Parameter(name="esg_floor")
            cons.append(np.nan_to_num(self._scores, nan=0.0) @ w >= self._floor)
        self._group_lower: cp.Parameter | None = None
        self._group_upper: cp.Parameter | None = None
        if m:
            membership = np.vstack([mask.astype(float) for mask in self._groups.values()])
            self._group_lower = cp.Parameter(m, name="group_lower")
            self._group_upper = cp.Parameter(m, name="group_upper")
            cons += [membership @ w >= self._group_lower, membership @ w <= self._group_upper]
        self._current: cp.Parameter | None = None
        self._turnover: cp.Parameter | None = None
        if turnover:
            self._current = cp.Parameter(n, name="current_weights")
            self._turnover = cp.Parameter(name="max_turnover")
            trade = cp.Variable(n, nonneg=True)
            cons += [
                trade >= w - self._current,
                trade >= self._current - w,
                cp.sum(trade) / 2.0 <= self._turnover,
            ]
        self._weights = w
        self._last_values: dict[int, np.ndarray] = {}
        self._no_floor = (
            float(np.min(np.nan_to_num(self._scores, nan=0.0))) - 1.0
            if self._scores is not None
            else 0.0
        )
        self._problem = cp.Problem(cp.Minimize(self._gamma / 2.0 * variance - mu_arr @ w), cons)
        if not self._problem.is_dpp():
            raise AssertionError("the recommendation problem must be DPP")

    @property
    def symbols(self) -> tuple[str, ...] | None:
        """The universe's symbols (``None`` when built from plain arrays)."""
        return self._universe.symbols

    @property
    def groups(self) -> tuple[tuple[str, str], ...]:
        """The ``(kind, name)`` of every asset class and sector a client may bound."""
        return tuple(self._groups)

    def _resolve(self, constraints: Constraints | None) -> ResolvedConstraints:
        rc = resolve(
            constraints,
            self._universe,
            known_groups=self._groups,
            scores_known=self._scores is not None,
        )
        if rc.esg_scores is not None:
            if self._scores is None:
                raise InvalidInput(
                    "this recommendation problem was built without ESG scores; pass esg_scores "
                    "when creating it",
                    field="esg_scores",
                )
            if not np.allclose(rc.esg_scores, self._scores, equal_nan=True, rtol=0, atol=1e-12):
                raise InvalidInput(
                    "the client's esg_scores differ from the universe's", field="esg_scores"
                )
        elif self._scores is not None:
            rc = dataclasses.replace(rc, esg_scores=self._scores)
        if rc.max_turnover is not None and self._turnover is None:
            raise InvalidInput(
                "this recommendation problem was built without turnover limits; create it with "
                "turnover=True",
                field="max_turnover",
            )
        return rc

    @staticmethod
    def _key(risk_aversion: float, rc: ResolvedConstraints) -> Hashable:
        return (
            risk_aversion,
            rc.lower.tobytes(),
            rc.upper.tobytes(),
            rc.cap.tobytes(),
            rc.esg_floor,
            tuple(sorted((g.kind, g.name, g.lower, g.upper) for g in rc.groups)),
            None if rc.current is None or rc.max_turnover is None else rc.current.tobytes(),
            rc.max_turnover,
        )

    def recommend(
        self, *, risk_aversion: float, constraints: Constraints | None = None
    ) -> OptimizationResult:
        """The client's mean-variance portfolio within their constraints.

        Parameters
        ----------
        risk_aversion : float
            The client's ``lambda`` > 0.
        constraints : Constraints, optional
            The client's limits. ESG scores come from the universe (a client may omit them);
            asset-class and sector bounds must name groups of the universe.

        Returns
        -------
        OptimizationResult
            As from :func:`~portfolios.core.optimize.mean_variance`, ``method`` is
            ``"mean_variance"``. A result served from the cache is a copy.
        """
        started = time.perf_counter()
        lam = check_scalar(risk_aversion, "risk_aversion")
        if lam <= 0:
            raise InvalidInput(
                f"risk_aversion must be positive, got {lam:g}", field="risk_aversion"
            )
        rc = self._resolve(constraints)
        key = self._key(lam, rc) if self._cache_size else None
        if key is not None:
            cached = self._cache.get(key)
            if cached is not None:  # only feasible, verified answers are cached
                self._cache.move_to_end(key)
                self.cache_hits += 1
                weights = cached.weights.copy()
                return dataclasses.replace(
                    cached, weights=weights, solve_time_s=time.perf_counter() - started
                )
        check_feasibility(rc, self._universe)
        self._set_parameters(lam, rc)
        try:
            outcome = solve_problem(
                self._problem,
                fallback=self._fallback,
                solver_options=self._solver_options,
                warm_start=True,
            )
        except SolverInfeasible as exc:
            message = explain_infeasibility(rc, self._universe) or (
                f"the solver found the client's constraints infeasible (status {exc.status})"
            )
            raise InfeasibleProblem(message, details={"status": exc.status}) from None
        self.distinct_solves += 1
        mu, risk = self._mu, self._risk
        result = finish(
            method="mean_variance",
            raw_weights=self._weights.value,
            rc=rc,
            universe=self._universe,
            risk=risk,
            mu=mu,
            outcome=outcome,
            started=started,
            objective=lambda x: float(mu @ x) - lam / 2.0 * risk.variance(x),
        )
        if key is not None:
            self._cache[key] = result
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
            return dataclasses.replace(result, weights=result.weights.copy())
        return result

    def _assign(self, parameter: Any, value: Any) -> None:
        """Set a parameter, skipping cvxpy's validation when the value has not changed."""
        last = self._last_values.get(parameter.id)
        if last is not None and np.array_equal(last, value):
            return
        parameter.value = value
        self._last_values[parameter.id] = np.array(value, dtype=float, copy=True)

    def _set_parameters(self, lam: float, rc: ResolvedConstraints) -> None:
        n = self._universe.n
        self._assign(self._gamma, lam)
        self._assign(self._lower, rc.lower)
        self._assign(self._upper, rc.upper)
        if self._floor is not None:
            assert self._scores is not None
            if rc.esg_floor is not None:
                self._assign(self._floor, rc.esg_floor)
            else:
                self._assign(self._floor, self._no_floor)
        if self._group_lower is not None and self._group_upper is not None:
            lower = np.zeros(len(self._groups))
            upper = np.ones(len(self._groups))
            for g in rc.groups:
                i = self._group_index[(g.kind, g.name)]
                lower[i], upper[i] = g.lower, g.upper
            self._assign(self._group_lower, lower)
            self._assign(self._group_upper, upper)
        if self._current is not None and self._turnover is not None:
            if rc.current is not None and rc.max_turnover is not None:
                self._assign(self._current, rc.current)
                self._assign(self._turnover, rc.max_turnover)
            else:
                self._assign(self._current, np.zeros(n))
                self._assign(self._turnover, _NO_TURNOVER_LIMIT)
