"""Goal projection: deterministic without volatility, lognormal closed form without contributions."""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pytest

from portfolios.core import projection
from portfolios.core.errors import InvalidInput


def test_zero_volatility_is_deterministic():
    mu, years, periods = 0.05, 10, 12
    result = projection.project_goal(
        initial_wealth=10_000,
        goal=30_000,
        horizon_years=years,
        expected_return=mu,
        volatility=0.0,
        contribution=100,
        periods_per_year=periods,
        n_paths=500,
    )
    growth = math.exp(mu / periods)
    n = years * periods
    # W_n = W_0 g^n + c (g^(n-1) + ... + 1): compounding plus an annuity of contributions.
    final = 10_000 * growth**n + 100 * (growth**n - 1) / (growth - 1)
    np.testing.assert_allclose(result.p10, result.p90)
    np.testing.assert_allclose(result.p50[-1], final, rtol=1e-12)
    assert result.final_wealth[50] == pytest.approx(final, rel=1e-12)
    assert final > 30_000
    assert result.probability == 1.0
    assert result.standard_error == 0.0
    assert result.times[-1] == pytest.approx(years)
    assert len(result.p50) == n + 1


def test_without_contributions_matches_the_lognormal_closed_form():
    kwargs = {
        "initial_wealth": 100_000,
        "goal": 150_000,
        "horizon_years": 8,
        "expected_return": 0.06,
        "volatility": 0.15,
    }
    exact = projection.lognormal_goal_probability(**kwargs)
    d = (math.log(100_000 / 150_000) + (0.06 - 0.15**2 / 2) * 8) / (0.15 * math.sqrt(8))
    assert exact == pytest.approx(0.5 * (1 + math.erf(d / math.sqrt(2))))
    result = projection.project_goal(**kwargs, n_paths=20_000, seed=3)
    assert abs(result.probability - exact) < 4 * math.sqrt(exact * (1 - exact) / 20_000)
    # The median of lognormal wealth is W_0 exp((mu - sigma^2 / 2) T).
    median = 100_000 * math.exp((0.06 - 0.15**2 / 2) * 8)
    assert result.final_wealth[50] == pytest.approx(median, rel=0.02)


def test_bands_are_ordered_and_contributions_help():
    base = {
        "initial_wealth": Decimal("50000.00"),
        "goal": Decimal("120000.00"),
        "horizon_years": 15,
        "expected_return": 0.05,
        "volatility": 0.12,
        "n_paths": 4000,
    }
    without = projection.project_goal(**base)
    with_saving = projection.project_goal(**base, contribution=Decimal("200.00"))
    assert with_saving.probability > without.probability
    assert (without.p10 <= without.p50).all()
    assert (without.p50 <= without.p90).all()
    assert without.p50[0] == 50_000
    same = projection.project_goal(**base)
    assert same.probability == without.probability


def test_withdrawals_can_deplete_wealth_but_not_below_zero():
    result = projection.project_goal(
        initial_wealth=10_000,
        goal=1,
        horizon_years=5,
        expected_return=0.0,
        volatility=0.1,
        contribution=-500,
        n_paths=500,
    )
    assert result.p90.min() >= 0.0
    assert result.probability == 0.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"goal": 0}, "goal must be positive"),
        ({"volatility": -0.1}, "volatility must not be negative"),
        ({"horizon_years": 0.01}, "shorter than one period"),
        ({"n_paths": 10}, "n_paths must be an integer of at least 100"),
        ({"expected_return": float("nan")}, "expected_return must be finite"),
    ],
)
def test_bad_inputs(kwargs, message):
    args = {
        "initial_wealth": 1000,
        "goal": 2000,
        "horizon_years": 10,
        "expected_return": 0.05,
        "volatility": 0.1,
    }
    args.update(kwargs)
    with pytest.raises(InvalidInput, match=message):
        projection.project_goal(**args)
