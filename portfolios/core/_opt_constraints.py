"""The constraint set shared by every optimiser, its checks, and the names of binding constraints.

Private helper of :mod:`portfolios.core.optimize`, which re-exports :class:`Constraints` and
:class:`GroupBound`. The checks here run before any solver so that an impossible request fails
with a message naming the constraint at fault; :func:`explain_infeasibility` does the same, with
small linear programmes, when the solver reports infeasibility that the closed-form checks could
not see (for example an asset-class bound that conflicts with a sector bound).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeAlias

import numpy as np
import pandas as pd

from portfolios.core._opt_universe import Universe, asset_mask, check_scalar, per_asset
from portfolios.core.errors import InfeasibleProblem, InvalidInput

Members: TypeAlias = Sequence[str] | np.ndarray | pd.Series
PerAsset: TypeAlias = float | Sequence[float] | np.ndarray | pd.Series | Mapping[str, float]

#: Slack below which a constraint counts as binding, in weight units (scaled for ESG scores).
BINDING_TOLERANCE = 1e-6
#: Largest constraint violation accepted in a solver's answer, in weight units.
VERIFY_TOLERANCE = 1e-6
#: Tolerance of the closed-form feasibility checks.
CHECK_TOLERANCE = 1e-9
#: Weights this close to their lower bound are set to it when a solution is cleaned.
ZERO_TOLERANCE = 1e-9


def _freeze(value: Any) -> Any:
    """An immutable copy of a per-asset input (read-only arrays, copied Series, proxied dicts)."""
    if value is None or isinstance(value, bool | int | float | str | np.integer | np.floating):
        return value
    if isinstance(value, pd.Series):
        return value.copy()
    if isinstance(value, np.ndarray):
        out = value.copy()
        out.setflags(write=False)
        return out
    if isinstance(value, Mapping):
        return MappingProxyType(dict(value))
    if isinstance(value, Sequence | set | frozenset | pd.Index):
        return tuple(value)
    return value


@dataclass(frozen=True, eq=False)
class GroupBound:
    """Bounds on the total weight of a group of assets (an asset class or a sector).

    Attributes
    ----------
    members : sequence of str, boolean mask or boolean Series, or None
        The assets in the group. ``None`` is only accepted by a
        :class:`~portfolios.core.optimize.RecommendationProblem`, whose universe defines its
        groups.
    lower, upper : float
        The group's total weight must lie in ``[lower, upper]`` within ``[0, 1]``.
    """

    members: Members | None
    lower: float = 0.0
    upper: float = 1.0

    def __post_init__(self) -> None:
        lo = check_scalar(self.lower, "group lower bound", low=0.0, high=1.0)
        hi = check_scalar(self.upper, "group upper bound", low=0.0, high=1.0)
        if lo > hi:
            raise InvalidInput(
                f"group lower bound {lo:g} is above its upper bound {hi:g}", field="groups"
            )
        object.__setattr__(self, "lower", lo)
        object.__setattr__(self, "upper", hi)
        object.__setattr__(self, "members", _freeze(self.members))


def _group_map(value: Mapping[str, Any], field_name: str) -> Mapping[str, GroupBound]:
    if not isinstance(value, Mapping):
        raise InvalidInput(
            f"{field_name} must map a group name to (members, lower, upper)", field=field_name
        )
    out: dict[str, GroupBound] = {}
    for name, spec in value.items():
        if isinstance(spec, GroupBound):
            bound = spec
        elif isinstance(spec, tuple | list) and len(spec) == 3:
            try:
                bound = GroupBound(members=spec[0], lower=spec[1], upper=spec[2])
            except InvalidInput as exc:
                raise InvalidInput(f"{field_name} {name}: {exc.message}", field=field_name) from exc
        else:
            raise InvalidInput(
                f"{field_name} {name} must be (members, lower, upper) or a GroupBound",
                field=field_name,
            )
        out[str(name)] = bound
    return MappingProxyType(out)


@dataclass(frozen=True, eq=False)
class Constraints:
    """The limits every optimiser respects; all optional, long-only and fully invested always.

    Per-asset values (``min_weight``, ``max_weight``, ``esg_scores``, ``current_weights``) are a
    single number for every asset, an array with one entry per asset, or a ``Series``/mapping by
    symbol (assets it omits get the default: minimum 0, cap 1, current weight 0).

    Attributes
    ----------
    min_weight : float or per-asset
        Lower bound of each weight (non-negative). A single number applies to the assets that are
        not excluded.
    max_weight : float or per-asset
        Per-asset cap, in ``[0, 1]``.
    esg_scores : per-asset, optional
        ESG score of each asset (any scale, e.g. 0-100); required with ``esg_floor`` except by a
        :class:`~portfolios.core.optimize.RecommendationProblem`, which has the universe's
        scores. Assets that are excluded may lack a score (NaN).
    esg_floor : float, optional
        Hard floor on the portfolio's weighted ESG score ``sum(w_i * score_i)``.
    excluded : sequence of str or boolean mask, optional
        Assets held at zero (the client's exclusions). Symbols outside the universe are ignored.
    asset_class_bounds, sector_bounds : mapping of name to (members, lower, upper)
        Bounds on the total weight of each asset class / sector (a :class:`GroupBound` or a
        3-tuple).
    current_weights : per-asset, optional
        The client's current weights; required with ``max_turnover``.
    max_turnover : float, optional
        Limit on the one-way turnover ``sum(|w_i - current_i|) / 2``.
    """

    min_weight: PerAsset = 0.0
    max_weight: PerAsset = 1.0
    esg_scores: PerAsset | None = None
    esg_floor: float | None = None
    excluded: Members | None = None
    asset_class_bounds: Mapping[str, Any] = field(default_factory=dict)
    sector_bounds: Mapping[str, Any] = field(default_factory=dict)
    current_weights: PerAsset | None = None
    max_turnover: float | None = None

    def __post_init__(self) -> None:
        for name in ("min_weight", "max_weight"):
            value = getattr(self, name)
            if isinstance(value, int | float | np.integer | np.floating) and not isinstance(
                value, bool
            ):
                object.__setattr__(self, name, check_scalar(value, name, low=0.0, high=1.0))
            else:
                object.__setattr__(self, name, _freeze(value))
        lo, hi = self.min_weight, self.max_weight
        if isinstance(lo, float) and isinstance(hi, float) and lo > hi:
            raise InvalidInput(f"min_weight {lo:g} is above max_weight {hi:g}", field="min_weight")
        if self.esg_floor is not None:
            object.__setattr__(self, "esg_floor", check_scalar(self.esg_floor, "esg_floor"))
        object.__setattr__(self, "esg_scores", _freeze(self.esg_scores))
        object.__setattr__(self, "excluded", _freeze(self.excluded))
        object.__setattr__(
            self, "asset_class_bounds", _group_map(self.asset_class_bounds, "asset_class_bounds")
        )
        object.__setattr__(self, "sector_bounds", _group_map(self.sector_bounds, "sector_bounds"))
        object.__setattr__(self, "current_weights", _freeze(self.current_weights))
        if self.max_turnover is not None:
            object.__setattr__(
                self, "max_turnover", check_scalar(self.max_turnover, "max_turnover", low=0.0)
            )
            if self.current_weights is None:
                raise InvalidInput(
                    "a turnover limit needs current_weights", field="current_weights"
                )


@dataclass(frozen=True, eq=False)
class Group:
    """A resolved group bound: which assets, and the interval their total weight must lie in."""

    kind: str
    name: str
    mask: np.ndarray
    lower: float
    upper: float

    @property
    def upper_label(self) -> str:
        return f"{self.kind} {self.name} <= {self.upper:g}"

    @property
    def lower_label(self) -> str:
        return f"{self.kind} {self.name} >= {self.lower:g}"


@dataclass(frozen=True, eq=False)
class ResolvedConstraints:
    """:class:`Constraints` as arrays in the universe's order, ready for a solver."""

    lower: np.ndarray
    upper: np.ndarray
    cap: np.ndarray
    excluded: np.ndarray
    esg_scores: np.ndarray | None
    esg_floor: float | None
    groups: tuple[Group, ...]
    current: np.ndarray | None
    max_turnover: float | None

    @property
    def esg_tolerance(self) -> float:
        if self.esg_scores is None:
            return BINDING_TOLERANCE
        finite = self.esg_scores[np.isfinite(self.esg_scores)]
        scale = float(np.abs(finite).max()) if finite.size else 1.0
        return BINDING_TOLERANCE * max(1.0, scale)

    def turnover(self, w: np.ndarray) -> float:
        if self.current is None:
            return 0.0
        return float(np.abs(w - self.current).sum()) / 2.0


GroupMembers: TypeAlias = Mapping[tuple[str, str], np.ndarray]


def resolve(
    constraints: Constraints | None,
    universe: Universe,
    *,
    known_groups: GroupMembers | None = None,
    scores_known: bool = False,
) -> ResolvedConstraints:
    """Align ``constraints`` to ``universe`` and validate them one by one.

    ``known_groups`` (``(kind, name) -> mask``) are the groups a compiled problem was built with;
    a group bound given without members refers to one of them. ``scores_known`` says the caller
    supplies ESG scores itself (a compiled problem's universe scores).
    """
    c = constraints if constraints is not None else Constraints()
    if not isinstance(c, Constraints):
        raise InvalidInput("constraints must be a Constraints instance", field="constraints")
    n = universe.n
    excluded = asset_mask(c.excluded, universe, "excluded", ignore_unknown=True)
    lower = per_asset(c.min_weight, universe, "min_weight", default=0.0)
    cap = per_asset(c.max_weight, universe, "max_weight", default=1.0)
    if (lower < 0).any():
        raise InvalidInput(
            "min_weight must not be negative (portfolios are long-only): "
            f"{universe.labels(np.flatnonzero(lower < 0))}",
            field="min_weight",
        )
    out_of_range = (cap < 0) | (cap > 1)
    if out_of_range.any():
        raise InvalidInput(
            f"max_weight must be within [0, 1]: {universe.labels(np.flatnonzero(out_of_range))}",
            field="max_weight",
        )
    if isinstance(c.min_weight, float):
        lower = np.where(excluded, 0.0, lower)
    else:
        clash = excluded & (lower > 0)
        if clash.any():
            i = int(np.flatnonzero(clash)[0])
            raise InfeasibleProblem(
                f"{universe.label(i)} is excluded but has a minimum weight of {lower[i]:g}",
                field="min_weight",
            )
    upper = np.where(excluded, 0.0, cap)

    scores: np.ndarray | None = None
    if c.esg_scores is not None:
        scores = per_asset(c.esg_scores, universe, "esg_scores", default=np.nan, allow_nan=True)
    elif c.esg_floor is not None and not scores_known:
        raise InvalidInput(f"ESG floor {c.esg_floor:g} needs esg_scores", field="esg_scores")

    groups: list[Group] = []
    for kind, mapping in (("asset class", c.asset_class_bounds), ("sector", c.sector_bounds)):
        for name, bound in mapping.items():
            label = f"{kind} {name}"
            if bound.members is None:
                if known_groups is None or (kind, name) not in known_groups:
                    raise InvalidInput(f"{label} needs its members", field="groups")
                mask = np.asarray(known_groups[(kind, name)], dtype=bool)
            else:
                mask = asset_mask(bound.members, universe, f"{label} members", ignore_unknown=False)
                if known_groups is not None:
                    known = known_groups.get((kind, name))
                    if known is None or not np.array_equal(known, mask):
                        raise InvalidInput(
                            f"{label} is not a group of this universe (or its members differ)",
                            field="groups",
                        )
            if mask.shape != (n,):
                raise InvalidInput(f"{label} members do not match the universe", field="groups")
            groups.append(Group(kind, name, mask, bound.lower, bound.upper))

    current: np.ndarray | None = None
    if c.current_weights is not None:
        current = per_asset(c.current_weights, universe, "current_weights", default=0.0)
        negative = np.flatnonzero(current < 0)
        if negative.size:
            raise InvalidInput(
                f"current_weights must not be negative: {universe.labels(negative)}",
                field="current_weights",
            )
    return ResolvedConstraints(
        lower=lower,
        upper=upper,
        cap=cap,
        excluded=excluded,
        esg_scores=scores,
        esg_floor=c.esg_floor,
        groups=tuple(groups),
        current=current,
        max_turnover=c.max_turnover,
    )


# --------------------------------------------------------------------------------------------
# Closed-form checks
# --------------------------------------------------------------------------------------------


def max_linear(values: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    """``max values @ w`` over ``lower <= w <= upper, sum(w) = 1`` (assumed feasible), greedily."""
    w = lower.astype(float).copy()
    remaining = 1.0 - float(w.sum())
    for i in np.argsort(-values, kind="stable"):
        if remaining <= 0:
            break
        add = min(float(upper[i] - lower[i]), remaining)
        w[i] += add
        remaining -= add
    return float(values @ w)


def min_turnover_within_bounds(current: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    """Least one-way turnover from ``current`` to any fully invested ``lower <= w <= upper``."""
    clipped = np.clip(current, lower, upper)
    return (float(np.abs(clipped - current).sum()) + abs(1.0 - float(clipped.sum()))) / 2.0


def check_feasibility(rc: ResolvedConstraints, universe: Universe) -> None:
    """Raise :class:`InfeasibleProblem` naming the constraint for every conflict visible without
    a solver: an empty universe, bounds that cannot sum to one, an unreachable ESG floor, group
    bounds their members cannot meet, a turnover limit tighter than the bounds allow."""
    tol = CHECK_TOLERANCE
    eligible = ~rc.excluded
    if not eligible.any():
        raise InfeasibleProblem(
            f"all {universe.n} assets are excluded: the universe is empty after exclusions",
            field="excluded",
        )
    bad = eligible & (rc.lower > rc.upper + tol)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InfeasibleProblem(
            f"minimum weight {rc.lower[i]:g} on {universe.label(i)} is above its cap "
            f"{rc.upper[i]:g}",
            field="min_weight",
        )
    total_lower = float(rc.lower.sum())
    if total_lower > 1.0 + tol:
        raise InfeasibleProblem(
            f"minimum weights sum to {total_lower:.6g}, more than the whole portfolio",
            field="min_weight",
        )
    total_upper = float(rc.upper.sum())
    if total_upper < 1.0 - tol:
        n_excluded = int(rc.excluded.sum())
        note = f" after excluding {n_excluded} of {universe.n} assets" if n_excluded else ""
        raise InfeasibleProblem(
            f"per-asset caps sum to {total_upper:.6g}{note}: the portfolio cannot be fully "
            "invested",
            field="max_weight",
        )
    for g in rc.groups:
        members, others = g.mask, ~g.mask
        room = float(rc.upper[members].sum())
        if g.lower > room + tol:
            if not (members & eligible).any():
                reason = f"every member of {g.kind} {g.name} is excluded"
            else:
                reason = f"the caps of its eligible members sum to {room:.6g}"
            raise InfeasibleProblem(f"{g.lower_label} cannot be met: {reason}", field="groups")
        floor = float(rc.lower[members].sum())
        if g.upper < floor - tol:
            raise InfeasibleProblem(
                f"{g.upper_label} conflicts with minimum weights summing to {floor:.6g} on its "
                "members",
                field="groups",
            )
        rest = float(rc.upper[others].sum())
        if g.upper + rest < 1.0 - tol:
            raise InfeasibleProblem(
                f"{g.upper_label} leaves the portfolio short of full investment: the caps of the "
                f"assets outside it sum to {rest:.6g}",
                field="groups",
            )
        rest_floor = float(rc.lower[others].sum())
        if g.lower + rest_floor > 1.0 + tol:
            raise InfeasibleProblem(
                f"{g.lower_label} conflicts with minimum weights summing to {rest_floor:.6g} on "
                "the assets outside it",
                field="groups",
            )
    if rc.esg_floor is not None and rc.esg_scores is not None:
        unscored = eligible & np.isnan(rc.esg_scores)
        if unscored.any():
            raise InvalidInput(
                f"ESG scores are missing for {universe.labels(np.flatnonzero(unscored))}; "
                "exclude them or provide scores",
                field="esg_scores",
            )
        scores = np.nan_to_num(rc.esg_scores, nan=0.0)
        best = max_linear(scores, rc.lower, rc.upper)
        floor = rc.esg_floor
        if best < floor - rc.esg_tolerance:
            elig_idx = np.flatnonzero(eligible)
            top = int(elig_idx[np.argmax(scores[elig_idx])])
            if scores[top] < floor:
                raise InfeasibleProblem(
                    f"ESG floor {floor:g} is above every eligible asset's score (highest: "
                    f"{universe.label(top)} at {scores[top]:g})",
                    field="esg_floor",
                )
            raise InfeasibleProblem(
                f"ESG floor {floor:g} cannot be met within the per-asset caps: the highest "
                f"achievable portfolio score is {best:.6g}",
                field="esg_floor",
            )
    if rc.max_turnover is not None and rc.current is not None:
        need = min_turnover_within_bounds(rc.current, rc.lower, rc.upper)
        if need > rc.max_turnover + tol:
            raise InfeasibleProblem(
                f"turnover <= {rc.max_turnover:g} is too tight: the per-asset bounds and "
                f"exclusions alone need turnover of {need:.6g} from the current weights",
                field="max_turnover",
            )


# --------------------------------------------------------------------------------------------
# Binding constraints and verification of a solution
# --------------------------------------------------------------------------------------------


def binding_constraints(rc: ResolvedConstraints, w: np.ndarray, universe: Universe) -> list[str]:
    """Human-readable names of the constraints whose slack at ``w`` is within the tolerance."""
    tol = BINDING_TOLERANCE
    names: list[str] = []
    if rc.esg_floor is not None and rc.esg_scores is not None:
        score = float(np.nan_to_num(rc.esg_scores, nan=0.0) @ w)
        if score - rc.esg_floor <= rc.esg_tolerance:
            names.append(f"ESG floor {rc.esg_floor:g}")
    for g in rc.groups:
        total = float(w[g.mask].sum())
        if g.upper < 1.0 and g.upper - total <= tol:
            names.append(g.upper_label)
        if g.lower > 0.0 and total - g.lower <= tol:
            names.append(g.lower_label)
    if rc.max_turnover is not None and rc.max_turnover - rc.turnover(w) <= tol:
        names.append(f"turnover <= {rc.max_turnover:g}")
    eligible = ~rc.excluded
    for i in np.flatnonzero(eligible & (rc.cap < 1.0) & (rc.upper - w <= tol)):
        names.append(f"cap {rc.cap[i]:g} on {universe.label(int(i))}")
    for i in np.flatnonzero(eligible & (rc.lower > 0.0) & (w - rc.lower <= tol)):
        names.append(f"minimum {rc.lower[i]:g} on {universe.label(int(i))}")
    return names


def violations(rc: ResolvedConstraints, w: np.ndarray, universe: Universe) -> list[str]:
    """Every constraint ``w`` breaks by more than :data:`VERIFY_TOLERANCE`, described."""
    tol = VERIFY_TOLERANCE
    out: list[str] = []
    if not np.isfinite(w).all():
        return ["weights are not finite"]
    total = float(w.sum())
    if abs(total - 1.0) > tol:
        out.append(f"weights sum to {total:.9g}, not 1")
    low = w < rc.lower - tol
    if low.any():
        out.append(f"weights below their minimum for {universe.labels(np.flatnonzero(low))}")
    high = w > rc.upper + tol
    if high.any():
        out.append(f"weights above their cap for {universe.labels(np.flatnonzero(high))}")
    if rc.esg_floor is not None and rc.esg_scores is not None:
        score = float(np.nan_to_num(rc.esg_scores, nan=0.0) @ w)
        if score < rc.esg_floor - rc.esg_tolerance:
            out.append(f"ESG score {score:.6g} is below the floor {rc.esg_floor:g}")
    for g in rc.groups:
        s = float(w[g.mask].sum())
        if s > g.upper + tol:
            out.append(f"{g.upper_label} is broken ({s:.6g})")
        if s < g.lower - tol:
            out.append(f"{g.lower_label} is broken ({s:.6g})")
    if rc.max_turnover is not None and rc.turnover(w) > rc.max_turnover + tol:
        out.append(f"turnover {rc.turnover(w):.6g} is above {rc.max_turnover:g}")
    return out


def clean_weights(rc: ResolvedConstraints, w: np.ndarray) -> np.ndarray:
    """Remove solver noise: clip into the bounds and snap near-minimum weights to the minimum."""
    out = np.clip(np.asarray(w, dtype=float), rc.lower, rc.upper)
    out[out - rc.lower <= ZERO_TOLERANCE] = rc.lower[out - rc.lower <= ZERO_TOLERANCE]
    out[rc.excluded] = 0.0
    return np.asarray(out)


# --------------------------------------------------------------------------------------------
# Explaining infeasibility with linear programmes
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class LinearFamily:
    """Rows ``A x <= b`` over ``x = [w, t]`` that together form one named constraint."""

    label: str
    kind: str
    a: np.ndarray
    b: np.ndarray


class _LinearSystem:
    def __init__(self, rc: ResolvedConstraints, universe: Universe) -> None:
        self.rc = rc
        self.n = universe.n
        self.has_turnover = rc.max_turnover is not None and rc.current is not None
        self.nv = 2 * self.n if self.has_turnover else self.n
        self.bounds = [(float(lo), float(hi)) for lo, hi in zip(rc.lower, rc.upper, strict=True)]
        if self.has_turnover:
            self.bounds += [(0.0, None)] * self.n  # type: ignore[list-item]
        self.a_eq = np.zeros((1, self.nv))
        self.a_eq[0, : self.n] = 1.0

    def _row(self, w_coef: np.ndarray, t_coef: np.ndarray | None = None) -> np.ndarray:
        row = np.zeros(self.nv)
        row[: self.n] = w_coef
        if t_coef is not None:
            row[self.n :] = t_coef
        return row

    def families(
        self, extra: Sequence[tuple[str, str, np.ndarray, float]] = ()
    ) -> list[LinearFamily]:
        rc, out = self.rc, []
        for g in rc.groups:
            m = g.mask.astype(float)
            if g.lower > 0.0:
                out.append(
                    LinearFamily(g.lower_label, "group", self._row(-m)[None], np.array([-g.lower]))
                )
            if g.upper < 1.0:
                out.append(
                    LinearFamily(g.upper_label, "group", self._row(m)[None], np.array([g.upper]))
                )
        if rc.esg_floor is not None and rc.esg_scores is not None:
            s = np.nan_to_num(rc.esg_scores, nan=0.0)
            out.append(
                LinearFamily(
                    f"ESG floor {rc.esg_floor:g}",
                    "esg",
                    self._row(-s)[None],
                    np.array([-rc.esg_floor]),
                )
            )
        for label, kind, coef, bound in extra:
            out.append(LinearFamily(label, kind, self._row(coef)[None], np.array([bound])))
        if self.has_turnover:
            assert rc.current is not None
            assert rc.max_turnover is not None
            eye = np.eye(self.n)
            link = np.vstack(
                [
                    np.hstack([eye, -eye]),
                    np.hstack([-eye, -eye]),
                    self._row(np.zeros(self.n), np.full(self.n, 0.5))[None],
                ]
            )
            rhs = np.concatenate([rc.current, -rc.current, [rc.max_turnover]])
            out.append(LinearFamily(f"turnover <= {rc.max_turnover:g}", "turnover", link, rhs))
        return out

    def solve(self, families: Sequence[LinearFamily], objective: np.ndarray | None = None) -> Any:
        from scipy.optimize import linprog

        c = np.zeros(self.nv) if objective is None else objective
        if families:
            a_ub = np.vstack([f.a for f in families])
            b_ub = np.concatenate([f.b for f in families])
        else:
            a_ub, b_ub = None, None
        return linprog(
            c, A_ub=a_ub, b_ub=b_ub, A_eq=self.a_eq, b_eq=[1.0], bounds=self.bounds, method="highs"
        )

    def feasible(self, families: Sequence[LinearFamily]) -> bool:
        return bool(self.solve(families).status == 0)


def _join(labels: Sequence[str]) -> str:
    return ", ".join(labels) if labels else "the per-asset bounds and exclusions"


def explain_infeasibility(
    rc: ResolvedConstraints,
    universe: Universe,
    *,
    extra: Sequence[tuple[str, str, np.ndarray, float]] = (),
) -> str | None:
    """Find which linear constraint makes the problem infeasible and say why, or ``None``.

    Constraints are added one at a time (group bounds, the ESG floor, any ``extra`` rows
    ``coef @ w <= bound`` such as a target return, then the turnover limit); the first one that
    makes the set infeasible is named together with what it conflicts with, and for the ESG
    floor, a target return and the turnover limit the best achievable value is given.
    """
    system = _LinearSystem(rc, universe)
    if not system.feasible([]):
        return "the per-asset bounds and exclusions cannot sum to one"
    active: list[LinearFamily] = []
    for fam in system.families(extra):
        if system.feasible([*active, fam]):
            active.append(fam)
            continue
        context = _join([f.label for f in active])
        if fam.kind == "esg" and rc.esg_scores is not None:
            s = np.nan_to_num(rc.esg_scores, nan=0.0)
            best = system.solve(active, objective=system._row(-s))
            return (
                f"{fam.label} cannot be met together with {context}: the highest achievable "
                f"portfolio ESG score is {-best.fun:.6g}"
            )
        if fam.kind == "turnover":
            link = LinearFamily(fam.label, fam.kind, fam.a[:-1], fam.b[:-1])
            best = system.solve(
                [*active, link], objective=system._row(np.zeros(system.n), np.full(system.n, 0.5))
            )
            return (
                f"{fam.label} is too tight: meeting {context} needs turnover of at least "
                f"{best.fun:.6g} from the current weights"
            )
        if fam.kind == "target":
            best = system.solve(active, objective=system._row(fam.a[0, : system.n]))
            return (
                f"{fam.label} is out of reach within {context}: the best achievable is "
                f"{-best.fun:.6g}"
            )
        if not system.feasible([fam]):
            return f"{fam.label} conflicts with the per-asset bounds and exclusions"
        for other in active:
            if not system.feasible([other, fam]):
                return f"{fam.label} conflicts with {other.label}"
        return f"{fam.label} conflicts with the combination of {context}"
    return None


def best_linear_value(
    rc: ResolvedConstraints, universe: Universe, values: np.ndarray
) -> float | None:
    """``max values @ w`` over every linear constraint, or ``None`` when they are infeasible."""
    system = _LinearSystem(rc, universe)
    result = system.solve(system.families(), objective=system._row(-values))
    if result.status != 0:
        return None
    return float(-result.fun)
