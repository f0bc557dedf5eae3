"""Walk-forward validation: parameters chosen on a training window, judged on the next one.

Folds roll forward by ``step_years`` (default the test length): train on ``train_years``, test
on the following ``test_years``. On each fold every candidate configuration runs on the training
window; the one with the best objective (after-tax CAGR by default) runs on the test window.
Only test windows are reported; their daily returns are chained into one out-of-sample path.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pandas as pd

from backtests.core.config import Rebalancing, StrategyConfig
from portfolios.core.errors import InvalidInput

#: The parameters that matter, and the values tried on each training window. ``band_scale``
#: multiplies the drift threshold and both bands together: a slot leaves its band long before
#: the total drift reaches the threshold, so the threshold alone changes nothing.
DRIFT_GRID = {"band_scale": (0.5, 1.0, 2.0)}
#: Parameters that stand for several fields of the strategy.
LINKED = {"band_scale": ("drift_threshold", "band_absolute", "band_relative")}
HARVEST_GRID = {"harvest_min_loss_pct": (0.03, 0.05, 0.10)}
VIEWS_GRID = {"view_max_tilt": (0.01, 0.02, 0.04)}


@dataclass(frozen=True)
class Fold:
    index: int
    train_start: date
    train_end: date
    test_start: date
    test_end: date

    def as_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "train_start": self.train_start.isoformat(),
            "train_end": self.train_end.isoformat(),
            "test_start": self.test_start.isoformat(),
            "test_end": self.test_end.isoformat(),
        }


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def rolling_folds(
    days: Sequence[date],
    *,
    train_years: int = 5,
    test_years: int = 1,
    step_years: int | None = None,
) -> list[Fold]:
    """The folds over the trading days ``days`` (sorted); each window is snapped to trading days.

    A fold whose test window would run past the last day is dropped.
    """
    if train_years < 1 or test_years < 1:
        raise InvalidInput("training and test windows are at least a year", field="train_years")
    step = step_years or test_years
    if step < 1:
        raise InvalidInput("the step is at least a year", field="step_years")
    if not days:
        raise InvalidInput("no trading days", field="days")
    index = pd.DatetimeIndex(pd.to_datetime(list(days)))
    first, last = days[0], days[-1]

    def snap_on_or_after(day: date) -> date | None:
        position = index.searchsorted(pd.Timestamp(day), side="left")
        return days[position] if position < len(days) else None

    def snap_before(day: date) -> date | None:
        position = index.searchsorted(pd.Timestamp(day), side="left") - 1
        return days[position] if position >= 0 else None

    folds: list[Fold] = []
    start = first
    while True:
        boundary = _add_years(start, train_years)
        test_end_calendar = _add_years(boundary, test_years)
        if test_end_calendar > last + timedelta(days=7):  # a window may end on a holiday
            break
        train_start = snap_on_or_after(start)
        train_end = snap_before(boundary)
        test_start = snap_on_or_after(boundary)
        test_end = snap_before(test_end_calendar)
        if (
            train_start is None
            or train_end is None
            or test_start is None
            or test_end is None
            or train_end <= train_start
            or test_end <= test_start
        ):
            break
        folds.append(Fold(len(folds), train_start, train_end, test_start, test_end))
        start = _add_years(start, step)
    if not folds:
        raise InvalidInput(
            f"{first} to {last} is too short for {train_years} training and {test_years} test "
            "year(s)",
            field="days",
        )
    return folds


def default_grid(strategy: StrategyConfig) -> dict[str, tuple[float, ...]]:
    """The parameters worth choosing for this strategy (empty: nothing to choose)."""
    grid: dict[str, tuple[float, ...]] = {}
    if strategy.rebalancing is Rebalancing.DRIFT:
        grid.update(DRIFT_GRID)
    if strategy.harvesting:
        grid.update(HARVEST_GRID)
    if strategy.views:
        grid.update(VIEWS_GRID)
    return grid


def parameter_grid(
    base: StrategyConfig, grid: Mapping[str, Sequence[float]]
) -> dict[str, StrategyConfig]:
    """Every combination of the grid's values applied to ``base``, keyed by a readable label
    (``band_scale=2,harvest_min_loss_pct=0.1``); the base alone when the grid is empty.
    ``band_scale`` multiplies the base's drift threshold and bands (capped at 1)."""
    if not grid:
        return {"base": base}
    names = sorted(grid)
    for name in names:
        if not grid[name]:
            raise InvalidInput(f"no values to try for {name}", field=name)
    combos: dict[str, StrategyConfig] = {}
    for values in itertools.product(*(grid[name] for name in names)):
        chosen = dict(zip(names, values, strict=True))
        label = ",".join(f"{k}={v:g}" for k, v in chosen.items())
        changes: dict[str, float] = {}
        for name, value in chosen.items():
            if name in LINKED:
                for field_name in LINKED[name]:
                    changes[field_name] = min(1.0, getattr(base, field_name) * value)
            else:
                changes[name] = value
        combos[label] = base.replace(**changes)
    return combos


def choose(scores: Mapping[str, float | None]) -> str:
    """The label with the highest score (None and NaN lose); ties go to the first label."""
    best: str | None = None
    best_score = float("-inf")
    for label, score in scores.items():
        if score is None or score != score:
            continue
        if score > best_score:
            best, best_score = label, score
    if best is None:
        raise InvalidInput("no candidate produced a score", field="scores")
    return best


def stitch(paths: Sequence[pd.Series]) -> pd.Series:
    """Chain value paths of consecutive windows into one path starting at 1 (shape: all dates).

    Each path contributes its own daily returns; the first day of each later path continues
    from the previous path's last value.
    """
    if not paths:
        raise InvalidInput("nothing to stitch", field="paths")
    pieces = []
    level = 1.0
    previous_end = None
    for path in paths:
        series = path.dropna().astype(float)
        if series.empty:
            continue
        if previous_end is not None and series.index[0] <= previous_end:
            raise InvalidInput("windows overlap", field="paths")
        scaled = series / float(series.iloc[0]) * level
        pieces.append(scaled)
        level = float(scaled.iloc[-1])
        previous_end = series.index[-1]
    return pd.concat(pieces)


OBJECTIVES = ("after_tax_cagr", "cagr", "sharpe", "calmar")


@dataclass(frozen=True)
class WalkForwardSpec:
    """How a walk-forward study rolls: window lengths, the grid tried, what is maximised."""

    train_years: int = 5
    test_years: int = 1
    step_years: int | None = None
    grid: Mapping[str, Sequence[float]] | None = None
    objective: str = "after_tax_cagr"

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise InvalidInput(
                f"objective is one of {', '.join(OBJECTIVES)}, not {self.objective!r}",
                field="objective",
            )
        if self.train_years < 1 or self.test_years < 1:
            raise InvalidInput("training and test windows are at least a year", field="train_years")
        if self.grid is not None:
            object.__setattr__(
                self,
                "grid",
                {k: tuple(float(v) for v in values) for k, values in self.grid.items()},
            )

    def grid_for(self, strategy: StrategyConfig) -> dict[str, tuple[float, ...]]:
        if self.grid is None:
            return default_grid(strategy)
        return {k: tuple(v) for k, v in self.grid.items()}

    def as_dict(self) -> dict[str, Any]:
        return {
            "train_years": self.train_years,
            "test_years": self.test_years,
            "step_years": self.step_years,
            "grid": None if self.grid is None else {k: list(v) for k, v in self.grid.items()},
            "objective": self.objective,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WalkForwardSpec:
        return cls(**dict(data))
