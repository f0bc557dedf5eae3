"""Walk-forward folds, candidates, choice and stitching."""

import itertools
from datetime import date

import pandas as pd
import pytest

from backtests.core.config import strategy_named
from backtests.core.markets import business_days
from backtests.core.walkforward import (
    WalkForwardSpec,
    choose,
    default_grid,
    parameter_grid,
    rolling_folds,
    stitch,
)
from portfolios.core.errors import InvalidInput

DAYS = business_days(date(2000, 1, 3), date(2010, 12, 31))


def test_rolling_folds_train_then_test_without_overlap():
    folds = rolling_folds(DAYS, train_years=5, test_years=1)
    assert len(folds) == 6
    for fold in folds:
        assert fold.train_start < fold.train_end < fold.test_start <= fold.test_end
        assert (fold.test_start - fold.train_end).days <= 3  # the next trading day
    for a, b in itertools.pairwise(folds):
        assert b.test_start > a.test_end  # test windows never overlap
        assert b.train_start.year == a.train_start.year + 1
    assert folds[0].train_start == date(2000, 1, 3) and folds[0].test_start == date(2005, 1, 3)
    assert folds[-1].test_end == date(2010, 12, 31)


def test_rolling_folds_needs_enough_data():
    with pytest.raises(InvalidInput):
        rolling_folds(DAYS[:300], train_years=5, test_years=1)


def test_parameter_grid_and_choice():
    base = strategy_named("drift_harvest")
    grid = default_grid(base)
    assert set(grid) == {"band_scale", "harvest_min_loss_pct"}
    wide = parameter_grid(base, {"band_scale": (2.0,)})["band_scale=2"]
    assert (wide.drift_threshold, wide.band_absolute, wide.band_relative) == (0.1, 0.06, 0.5)
    assert parameter_grid(base, {"band_scale": (5.0,)})["band_scale=5"].band_relative == 1.0
    candidates = parameter_grid(base, {"drift_threshold": (0.03, 0.1)})
    assert list(candidates) == ["drift_threshold=0.03", "drift_threshold=0.1"]
    assert candidates["drift_threshold=0.1"].drift_threshold == 0.1
    assert candidates["drift_threshold=0.1"].harvesting
    assert parameter_grid(base, {}) == {"base": base}
    assert choose({"a": 0.1, "b": None, "c": 0.3, "d": float("nan")}) == "c"
    assert choose({"a": 0.2, "b": 0.2}) == "a"
    with pytest.raises(InvalidInput):
        choose({"a": None})
    assert default_grid(strategy_named("buy_and_hold")) == {}


def test_stitch_chains_windows():
    first = pd.Series([10.0, 11.0], index=pd.to_datetime(["2020-01-02", "2020-01-03"]))
    second = pd.Series([50.0, 45.0], index=pd.to_datetime(["2020-01-06", "2020-01-07"]))
    path = stitch([first, second])
    assert path.to_numpy() == pytest.approx([1.0, 1.1, 1.1, 0.99])
    with pytest.raises(InvalidInput):
        stitch([second, first])


def test_spec_round_trip():
    spec = WalkForwardSpec(train_years=3, test_years=1, grid={"drift_threshold": [0.05]})
    assert WalkForwardSpec.from_dict(spec.as_dict()) == spec
    with pytest.raises(InvalidInput):
        WalkForwardSpec(objective="luck")
