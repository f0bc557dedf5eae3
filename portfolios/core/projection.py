"""Monte Carlo projection of a client's wealth towards a goal.

Wealth follows geometric Brownian motion with annual drift ``mu`` (``expected_return``) and
volatility ``sigma``: over a period of ``dt = 1 / periods_per_year`` years it is multiplied by
``exp((mu - sigma**2 / 2) dt + sigma sqrt(dt) Z)``, so ``E[W_T] = W_0 exp(mu T)`` without
contributions. A regular ``contribution`` is added at the end of every period (a negative one is
a withdrawal; wealth that runs out stays at zero). Amounts are floats in the client's currency;
convert from ``Decimal`` at the boundary.

Without contributions the terminal wealth is lognormal and
``P(W_T >= G) = Phi((ln(W_0 / G) + (mu - sigma**2 / 2) T) / (sigma sqrt(T)))``
(:func:`lognormal_goal_probability`), which the tests check the simulation against.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from statistics import NormalDist

import numpy as np

from portfolios.core.errors import InvalidInput

__all__ = ["GoalProjection", "lognormal_goal_probability", "project_goal"]

Amount = float | int | Decimal


@dataclass(frozen=True, eq=False)
class GoalProjection:
    """The outcome of :func:`project_goal`.

    Attributes
    ----------
    probability : float
        Share of simulated paths whose wealth at the horizon is at least the goal.
    standard_error : float
        Monte Carlo standard error of ``probability``, ``sqrt(p (1 - p) / n_paths)``.
    times : ndarray, shape (m + 1,)
        Time in years of each step, from 0 to the horizon (m periods).
    p10, p50, p90 : ndarray, shape (m + 1,)
        The 10th, 50th and 90th percentile of wealth at each time, across paths (pointwise
        percentiles: each is a band edge, not one simulated path).
    final_wealth : dict of int to float
        Percentiles 10, 50 and 90 of wealth at the horizon.
    n_paths : int
    seed : int
    """

    probability: float
    standard_error: float
    times: np.ndarray
    p10: np.ndarray
    p50: np.ndarray
    p90: np.ndarray
    final_wealth: dict[int, float]
    n_paths: int
    seed: int


def _amount(
    value: Amount, name: str, *, positive: bool = False, allow_negative: bool = False
) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | np.floating):
        raise InvalidInput(f"{name} must be a number", field=name)
    x = float(value)
    if not math.isfinite(x):
        raise InvalidInput(f"{name} must be finite, got {value!r}", field=name)
    if positive and x <= 0:
        raise InvalidInput(f"{name} must be positive, got {value}", field=name)
    if not positive and not allow_negative and x < 0:
        raise InvalidInput(f"{name} must not be negative, got {value}", field=name)
    return x


def _readonly(values: np.ndarray) -> np.ndarray:
    values.setflags(write=False)
    return values


def lognormal_goal_probability(
    *,
    initial_wealth: Amount,
    goal: Amount,
    horizon_years: float,
    expected_return: float,
    volatility: float,
) -> float:
    """Closed-form probability that lognormal wealth reaches ``goal`` at the horizon.

    Parameters
    ----------
    initial_wealth, goal : float
        Positive amounts.
    horizon_years : float
        Positive horizon ``T``.
    expected_return : float
        Annual drift ``mu`` of the geometric Brownian motion.
    volatility : float
        Annual volatility ``sigma``; zero gives 1 or 0.

    Returns
    -------
    float
        ``Phi((ln(W_0 / G) + (mu - sigma**2 / 2) T) / (sigma sqrt(T)))``.
    """
    w0 = _amount(initial_wealth, "initial_wealth", positive=True)
    g = _amount(goal, "goal", positive=True)
    t = _amount(horizon_years, "horizon_years", positive=True)
    mu = _amount(expected_return, "expected_return", allow_negative=True)
    sigma = _amount(volatility, "volatility")
    drift = math.log(w0 / g) + (mu - sigma**2 / 2.0) * t
    if sigma == 0.0:
        return 1.0 if drift >= 0.0 else 0.0
    return NormalDist().cdf(drift / (sigma * math.sqrt(t)))


def project_goal(
    *,
    initial_wealth: Amount,
    goal: Amount,
    horizon_years: float,
    expected_return: float,
    volatility: float,
    contribution: Amount = 0.0,
    periods_per_year: int = 12,
    n_paths: int = 10_000,
    seed: int = 0,
) -> GoalProjection:
    """Probability of reaching ``goal`` by the horizon, with 10/50/90 percentile wealth paths.

    Parameters
    ----------
    initial_wealth : float
        Wealth today (non-negative).
    goal : float
        Target wealth at the horizon (positive).
    horizon_years : float
        Years until the goal; ``horizon_years * periods_per_year`` is rounded to whole periods.
    expected_return : float
        Annual drift ``mu`` of the portfolio (continuously compounded expected growth of wealth).
    volatility : float
        Annual volatility ``sigma`` of the portfolio (non-negative).
    contribution : float
        Amount added at the end of every period (negative for a withdrawal).
    periods_per_year : int
        Contribution and simulation periods per year (12: monthly).
    n_paths : int
        Simulated paths (at least 100).
    seed : int
        Seed of the simulation; the same seed gives the same projection.

    Returns
    -------
    GoalProjection
    """
    w0 = _amount(initial_wealth, "initial_wealth")
    g = _amount(goal, "goal", positive=True)
    t = _amount(horizon_years, "horizon_years", positive=True)
    mu = _amount(expected_return, "expected_return", allow_negative=True)
    sigma = _amount(volatility, "volatility")
    c = _amount(contribution, "contribution", allow_negative=True)
    if isinstance(periods_per_year, bool) or not isinstance(periods_per_year, int):
        raise InvalidInput("periods_per_year must be an integer", field="periods_per_year")
    if periods_per_year < 1:
        raise InvalidInput("periods_per_year must be at least 1", field="periods_per_year")
    if isinstance(n_paths, bool) or not isinstance(n_paths, int) or n_paths < 100:
        raise InvalidInput("n_paths must be an integer of at least 100", field="n_paths")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise InvalidInput("seed must be an integer", field="seed")
    n_periods = round(t * periods_per_year)
    if n_periods < 1:
        raise InvalidInput(
            f"horizon_years {t} is shorter than one period of 1/{periods_per_year} year",
            field="horizon_years",
        )
    if w0 == 0.0 and c <= 0.0:
        raise InvalidInput(
            "with no initial wealth the contribution must be positive", field="contribution"
        )
    dt = 1.0 / periods_per_year
    rng = np.random.default_rng(seed)
    shocks = rng.standard_normal((n_periods, n_paths))
    growth = np.exp((mu - sigma**2 / 2.0) * dt + sigma * math.sqrt(dt) * shocks)

    wealth = np.empty((n_periods + 1, n_paths))
    wealth[0] = w0
    for k in range(n_periods):
        wealth[k + 1] = np.maximum(wealth[k] * growth[k] + c, 0.0)

    final = wealth[-1]
    probability = float(np.mean(final >= g))
    bands = np.percentile(wealth, [10, 50, 90], axis=1)
    times = np.arange(n_periods + 1, dtype=float) * dt
    return GoalProjection(
        probability=probability,
        standard_error=math.sqrt(probability * (1.0 - probability) / n_paths),
        times=_readonly(times),
        p10=_readonly(np.ascontiguousarray(bands[0])),
        p50=_readonly(np.ascontiguousarray(bands[1])),
        p90=_readonly(np.ascontiguousarray(bands[2])),
        final_wealth={10: float(bands[0, -1]), 50: float(bands[1, -1]), 90: float(bands[2, -1])},
        n_paths=n_paths,
        seed=seed,
    )
