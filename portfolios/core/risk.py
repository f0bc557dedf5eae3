"""Risk and performance measures of return series and portfolios.

Conventions
-----------
* Returns are periodic simple returns; ``frequency`` is the number of periods per year (252 for
  daily data) and annualises means (times ``frequency``) and volatilities (times
  ``sqrt(frequency)``). Risk-free rates are annual.
* Value at risk and expected shortfall are one-period losses reported as positive numbers (a VaR
  of 0.02 is a 2% loss). At confidence ``level`` (for example 0.95),
  ``VaR = -q`` where ``q`` is the lower ``1 - level`` quantile of the return distribution, the
  smallest return ``r`` with ``P(R <= r) >= 1 - level`` (for a sample: numpy's
  ``"inverted_cdf"`` quantile, no interpolation), and ``ES = -E[R | R <= q]``.
* A 1-D input gives a float; a 2-D input (periods x assets) gives one value per column, as a
  ``Series`` for a ``DataFrame`` or an array for an array, unless ``weights`` turn it into one
  portfolio.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from statistics import NormalDist
from typing import Literal, TypeAlias

import numpy as np
import pandas as pd

from portfolios.core.errors import InvalidInput

TRADING_DAYS_PER_YEAR = 252

Returns: TypeAlias = pd.Series | pd.DataFrame | np.ndarray
Weights: TypeAlias = pd.Series | np.ndarray
Measure: TypeAlias = float | pd.Series | np.ndarray
RiskMethod = Literal["historical", "parametric", "monte_carlo"]

__all__ = [
    "calmar",
    "expected_shortfall",
    "kelly_fraction",
    "max_drawdown",
    "risk_contributions",
    "sharpe",
    "sortino",
    "tracking_error",
    "value_at_risk",
    "var",
    "volatility",
]

_STANDARD_NORMAL = NormalDist()


# --------------------------------------------------------------------------------------------
# Input handling
# --------------------------------------------------------------------------------------------


def _values(data: Returns, name: str) -> tuple[np.ndarray, pd.Index | None]:
    """Returns as a float array of shape (T,) or (T, n), with column labels when pandas."""
    if isinstance(data, pd.Series):
        values = data.to_numpy(dtype=float, na_value=np.nan)
        labels = None
    elif isinstance(data, pd.DataFrame):
        values = data.to_numpy(dtype=float, na_value=np.nan)
        labels = pd.Index(data.columns)
    elif isinstance(data, np.ndarray | list | tuple):
        try:
            values = np.asarray(data, dtype=float)
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"{name} must be numeric", field=name) from exc
        labels = None
    else:
        raise InvalidInput(
            f"{name} must be a pandas Series/DataFrame or a numpy array, got {type(data).__name__}",
            field=name,
        )
    if values.ndim not in (1, 2):
        raise InvalidInput(f"{name} must be 1-D or 2-D, got {values.ndim} dimensions", field=name)
    if values.shape[0] == 0 or values.size == 0:
        raise InvalidInput(f"{name} is empty", field=name)
    if not np.isfinite(values).all():
        what = "missing (NaN)" if np.isnan(values).any() else "infinite"
        raise InvalidInput(f"{name} contains {what} values; clean them first", field=name)
    return values, labels


def _per_column(
    data: Returns, name: str, func: Callable[[np.ndarray], float], min_periods: int = 1
) -> Measure:
    values, labels = _values(data, name)
    if values.shape[0] < min_periods:
        raise InvalidInput(f"{name} needs at least {min_periods} periods", field=name)
    if values.ndim == 1:
        return float(func(values))
    out = np.array([func(values[:, j]) for j in range(values.shape[1])], dtype=float)
    if isinstance(data, pd.DataFrame):
        return pd.Series(out, index=labels, dtype=float)
    return out


def _check_frequency(frequency: float) -> float:
    if isinstance(frequency, bool) or not isinstance(frequency, int | float) or frequency <= 0:
        raise InvalidInput(
            f"frequency must be a positive number of periods per year, got {frequency!r}",
            field="frequency",
        )
    return float(frequency)


def _check_number(value: float, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise InvalidInput(f"{name} must be a number", field=name)
    if not math.isfinite(float(value)):
        raise InvalidInput(f"{name} must be finite, got {value!r}", field=name)
    return float(value)


def _check_level(level: float) -> float:
    level = _check_number(level, "level")
    if not 0.0 < level < 1.0:
        raise InvalidInput(f"level must be between 0 and 1 (e.g. 0.95), got {level}", field="level")
    return level


# --------------------------------------------------------------------------------------------
# Volatility and ratios
# --------------------------------------------------------------------------------------------


def volatility(returns: Returns, *, frequency: float = TRADING_DAYS_PER_YEAR) -> Measure:
    """Annualised volatility: the sample standard deviation (``ddof=1``) times ``sqrt(frequency)``.

    Parameters
    ----------
    returns : Series, DataFrame or ndarray, shape (T,) or (T, n)
    frequency : float
        Periods per year.
    """
    freq = _check_frequency(frequency)
    return _per_column(
        returns, "returns", lambda r: float(np.std(r, ddof=1)) * math.sqrt(freq), min_periods=2
    )


def sharpe(
    returns: Returns, *, risk_free_rate: float = 0.0, frequency: float = TRADING_DAYS_PER_YEAR
) -> Measure:
    """Annualised Sharpe ratio: mean excess return times ``frequency`` over annualised volatility.

    Parameters
    ----------
    returns : Series, DataFrame or ndarray, shape (T,) or (T, n)
    risk_free_rate : float
        Annual rate; ``risk_free_rate / frequency`` is subtracted from each period's return.
    frequency : float
        Periods per year.
    """
    freq = _check_frequency(frequency)
    rf = _check_number(risk_free_rate, "risk_free_rate") / freq

    def ratio(r: np.ndarray) -> float:
        sd = float(np.std(r, ddof=1))
        if sd == 0.0:
            raise InvalidInput(
                "returns have zero volatility: Sharpe ratio undefined", field="returns"
            )
        return float(np.mean(r - rf)) * freq / (sd * math.sqrt(freq))

    return _per_column(returns, "returns", ratio, min_periods=2)


def sortino(
    returns: Returns, *, risk_free_rate: float = 0.0, frequency: float = TRADING_DAYS_PER_YEAR
) -> Measure:
    """Annualised Sortino ratio: mean excess return over downside deviation.

    The downside deviation is ``sqrt(mean(min(r - r_f, 0) ** 2))`` per period (all periods in the
    mean, target the per-period risk-free rate), annualised by ``sqrt(frequency)``.

    Parameters
    ----------
    returns : Series, DataFrame or ndarray, shape (T,) or (T, n)
    risk_free_rate : float
        Annual rate.
    frequency : float
        Periods per year.
    """
    freq = _check_frequency(frequency)
    rf = _check_number(risk_free_rate, "risk_free_rate") / freq

    def ratio(r: np.ndarray) -> float:
        excess = r - rf
        downside = math.sqrt(float(np.mean(np.minimum(excess, 0.0) ** 2)))
        if downside == 0.0:
            raise InvalidInput(
                "returns never fall below the risk-free rate: Sortino ratio undefined",
                field="returns",
            )
        return float(np.mean(excess)) * freq / (downside * math.sqrt(freq))

    return _per_column(returns, "returns", ratio, min_periods=2)


def _max_drawdown_of_wealth(wealth: np.ndarray) -> float:
    peaks = np.maximum.accumulate(wealth)
    return float(np.max(1.0 - wealth / peaks))


def max_drawdown(series: Returns, *, kind: Literal["returns", "values"] = "returns") -> Measure:
    """Largest peak-to-trough fall, as a positive fraction of the peak (0.25 is a 25% fall).

    Parameters
    ----------
    series : Series, DataFrame or ndarray, shape (T,) or (T, n)
        Periodic simple returns (``kind="returns"``; wealth starts at 1 before the first return)
        or a path of positive values such as prices or account values (``kind="values"``).
    kind : {"returns", "values"}
    """
    if kind == "returns":

        def mdd(r: np.ndarray) -> float:
            if (r <= -1.0).any():
                raise InvalidInput("returns must be above -1 (-100%)", field="series")
            wealth = np.concatenate([[1.0], np.cumprod(1.0 + r)])
            return _max_drawdown_of_wealth(wealth)

    elif kind == "values":

        def mdd(r: np.ndarray) -> float:
            if (r <= 0.0).any():
                raise InvalidInput("values must be positive", field="series")
            return _max_drawdown_of_wealth(r)

    else:
        raise InvalidInput(f"kind must be 'returns' or 'values', got {kind!r}", field="kind")
    return _per_column(series, "series", mdd)


def calmar(returns: Returns, *, frequency: float = TRADING_DAYS_PER_YEAR) -> Measure:
    """Calmar ratio: compound annual growth rate over maximum drawdown.

    Parameters
    ----------
    returns : Series, DataFrame or ndarray, shape (T,) or (T, n)
        Periodic simple returns (above -1).
    frequency : float
        Periods per year; the growth rate is ``prod(1 + r) ** (frequency / T) - 1``.
    """
    freq = _check_frequency(frequency)

    def ratio(r: np.ndarray) -> float:
        if (r <= -1.0).any():
            raise InvalidInput("returns must be above -1 (-100%)", field="returns")
        wealth = np.concatenate([[1.0], np.cumprod(1.0 + r)])
        drawdown = _max_drawdown_of_wealth(wealth)
        if drawdown == 0.0:
            raise InvalidInput("returns have no drawdown: Calmar ratio undefined", field="returns")
        growth = math.expm1(float(np.log1p(r).sum()) * freq / r.shape[0])
        return growth / drawdown

    return _per_column(returns, "returns", ratio)


def tracking_error(
    returns: Returns, benchmark_returns: Returns, *, frequency: float = TRADING_DAYS_PER_YEAR
) -> Measure:
    """Annualised tracking error: the volatility (``ddof=1``) of ``returns - benchmark_returns``.

    Parameters
    ----------
    returns : Series, DataFrame or ndarray, shape (T,) or (T, n)
    benchmark_returns : Series or ndarray, shape (T,)
        Same periods (aligned by index when both are pandas).
    frequency : float
        Periods per year.
    """
    freq = _check_frequency(frequency)
    if (
        isinstance(returns, pd.Series | pd.DataFrame)
        and isinstance(benchmark_returns, pd.Series)
        and not returns.index.equals(benchmark_returns.index)
    ):
        raise InvalidInput(
            "returns and benchmark_returns must cover the same dates", field="benchmark_returns"
        )
    bench, _ = _values(benchmark_returns, "benchmark_returns")
    if bench.ndim != 1:
        raise InvalidInput("benchmark_returns must be 1-D", field="benchmark_returns")
    values, _ = _values(returns, "returns")
    if values.shape[0] != bench.shape[0]:
        raise InvalidInput(
            f"returns has {values.shape[0]} periods but benchmark_returns has {bench.shape[0]}",
            field="benchmark_returns",
        )
    active = values - (bench if values.ndim == 1 else bench[:, None])
    if isinstance(returns, pd.DataFrame):
        active_data: Returns = pd.DataFrame(active, columns=returns.columns)
    else:
        active_data = active
    return _per_column(
        active_data,
        "returns",
        lambda r: float(np.std(r, ddof=1)) * math.sqrt(freq),
        min_periods=2,
    )


# --------------------------------------------------------------------------------------------
# Value at risk and expected shortfall
# --------------------------------------------------------------------------------------------


def _portfolio_input(
    returns: Returns, weights: Weights | None
) -> tuple[np.ndarray, pd.Index | None, np.ndarray | None]:
    values, labels = _values(returns, "returns")
    if weights is None:
        return values, labels, None
    if values.ndim != 2:
        raise InvalidInput("weights need 2-D returns (periods x assets)", field="weights")
    if isinstance(weights, pd.Series) and labels is not None:
        missing = [str(s) for s in labels if s not in weights.index]
        extra = [str(s) for s in weights.index if s not in labels]
        if missing or extra:
            raise InvalidInput(
                "weights and returns name different assets "
                f"(missing weights: {missing[:5]}, unknown: {extra[:5]})",
                field="weights",
            )
        w = weights.reindex(labels).to_numpy(dtype=float)
    else:
        w = np.asarray(weights, dtype=float)
    if w.shape != (values.shape[1],):
        raise InvalidInput(
            f"weights must have {values.shape[1]} entries, got shape {w.shape}", field="weights"
        )
    if not np.isfinite(w).all():
        raise InvalidInput("weights must be finite", field="weights")
    return values, labels, w


def _tail(sample: np.ndarray, level: float) -> tuple[float, float]:
    """(VaR, ES) of a sample with the lower-quantile convention of the module docstring."""
    q = float(np.quantile(sample, 1.0 - level, method="inverted_cdf"))
    tail = sample[sample <= q]
    return -q, -float(np.mean(tail))


def _normal_tail(mean: float, sd: float, level: float) -> tuple[float, float]:
    z = _STANDARD_NORMAL.inv_cdf(level)
    var_ = -mean + sd * z
    es = -mean + sd * _STANDARD_NORMAL.pdf(z) / (1.0 - level)
    return var_, es


def _risk_measure(
    returns: Returns,
    *,
    level: float,
    method: RiskMethod,
    weights: Weights | None,
    n_simulations: int,
    seed: int | np.random.Generator,
    which: int,
) -> Measure:
    level = _check_level(level)
    if method not in ("historical", "parametric", "monte_carlo"):
        raise InvalidInput(
            f"method must be 'historical', 'parametric' or 'monte_carlo', got {method!r}",
            field="method",
        )
    if isinstance(n_simulations, bool) or not isinstance(n_simulations, int) or n_simulations < 100:
        raise InvalidInput(
            "n_simulations must be an integer of at least 100", field="n_simulations"
        )
    rng = np.random.default_rng(seed)
    values, labels, w = _portfolio_input(returns, weights)

    if method == "monte_carlo" and w is not None:
        mean = values.mean(axis=0)
        cov = np.atleast_2d(np.cov(values, rowvar=False, ddof=1))
        draws = rng.multivariate_normal(mean, cov, size=n_simulations, method="eigh")
        return _tail(draws @ w, level)[which]
    if w is not None:
        values = values @ w
        labels = None

    def measure(r: np.ndarray) -> float:
        if method == "historical":
            return _tail(r, level)[which]
        if r.shape[0] < 2:
            raise InvalidInput("returns need at least two periods", field="returns")
        mean, sd = float(np.mean(r)), float(np.std(r, ddof=1))
        if method == "parametric":
            return _normal_tail(mean, sd, level)[which]
        return _tail(rng.normal(mean, sd, size=n_simulations), level)[which]

    if values.ndim == 1:
        return float(measure(values))
    out = np.array([measure(values[:, j]) for j in range(values.shape[1])], dtype=float)
    if labels is not None:
        return pd.Series(out, index=labels, dtype=float)
    return out


def value_at_risk(
    returns: Returns,
    *,
    level: float = 0.95,
    method: RiskMethod = "historical",
    weights: Weights | None = None,
    n_simulations: int = 100_000,
    seed: int | np.random.Generator = 0,
) -> Measure:
    """One-period value at risk, a positive loss (see the module docstring for the convention).

    Parameters
    ----------
    returns : Series, DataFrame or ndarray, shape (T,) or (T, n)
        Periodic simple returns.
    level : float
        Confidence level in (0, 1), e.g. 0.95 or 0.99.
    method : {"historical", "parametric", "monte_carlo"}
        ``"historical"``: the empirical lower quantile of the returns. ``"parametric"``: a normal
        distribution with the sample mean and standard deviation,
        ``VaR = -mean + sd * z_level``. ``"monte_carlo"``: the empirical quantile of
        ``n_simulations`` normal draws with the sample moments (multivariate with the sample
        covariance when ``weights`` are given).
    weights : Series or ndarray, shape (n,), optional
        Portfolio weights; the measure is then that of the portfolio's returns ``R @ w``.
    n_simulations : int
        Draws for ``"monte_carlo"``.
    seed : int or numpy Generator
        Seed of the Monte Carlo draws (deterministic by default).

    Returns
    -------
    float, or Series/ndarray of shape (n,) for 2-D returns without weights.
    """
    return _risk_measure(
        returns,
        level=level,
        method=method,
        weights=weights,
        n_simulations=n_simulations,
        seed=seed,
        which=0,
    )


var = value_at_risk


def expected_shortfall(
    returns: Returns,
    *,
    level: float = 0.95,
    method: RiskMethod = "historical",
    weights: Weights | None = None,
    n_simulations: int = 100_000,
    seed: int | np.random.Generator = 0,
) -> Measure:
    """One-period expected shortfall (CVaR): the mean loss beyond the VaR, a positive number.

    ``"historical"`` and ``"monte_carlo"`` average the returns at or below the VaR quantile;
    ``"parametric"`` is the normal closed form ``-mean + sd * phi(z_level) / (1 - level)``.
    Parameters are those of :func:`value_at_risk`.
    """
    return _risk_measure(
        returns,
        level=level,
        method=method,
        weights=weights,
        n_simulations=n_simulations,
        seed=seed,
        which=1,
    )


# --------------------------------------------------------------------------------------------
# Risk contributions and sizing
# --------------------------------------------------------------------------------------------


def risk_contributions(
    weights: Weights, cov: pd.DataFrame | np.ndarray, *, relative: bool = False
) -> pd.Series | np.ndarray:
    """Each asset's contribution to portfolio volatility, ``w_i (Sigma w)_i / sigma_p``.

    The contributions sum to the portfolio volatility ``sigma_p = sqrt(w' Sigma w)`` (Euler), or
    to one with ``relative``.

    Parameters
    ----------
    weights : Series or ndarray, shape (n,)
    cov : DataFrame or ndarray, shape (n, n)
        Covariance matrix (annualised or not; the contributions are in the same units).
    relative : bool
        Divide by ``sigma_p``.

    Returns
    -------
    Series (indexed like ``weights``) or ndarray, shape (n,)
    """
    if isinstance(cov, pd.DataFrame):
        if isinstance(weights, pd.Series):
            if set(weights.index) != set(cov.index):
                raise InvalidInput("weights and cov name different assets", field="weights")
            c = cov.reindex(index=weights.index, columns=weights.index).to_numpy(dtype=float)
        else:
            c = cov.to_numpy(dtype=float)
    else:
        c = np.asarray(cov, dtype=float)
    w = (
        weights.to_numpy(dtype=float)
        if isinstance(weights, pd.Series)
        else np.asarray(weights, dtype=float)
    )
    if w.ndim != 1 or c.shape != (w.shape[0], w.shape[0]):
        raise InvalidInput(
            f"cov must be ({w.shape[0]}, {w.shape[0]}) for {w.shape[0]} weights, got {c.shape}",
            field="cov",
        )
    if not (np.isfinite(w).all() and np.isfinite(c).all()):
        raise InvalidInput("weights and cov must be finite", field="cov")
    marginal = c @ w
    variance = float(w @ marginal)
    if variance <= 0.0:
        raise InvalidInput("the portfolio has zero variance; contributions undefined", field="cov")
    sigma = math.sqrt(variance)
    contrib = w * marginal / sigma
    if relative:
        contrib = contrib / sigma
    if isinstance(weights, pd.Series):
        return pd.Series(contrib, index=weights.index, dtype=float)
    return np.asarray(contrib)


def kelly_fraction(
    p: float, win_loss_ratio: float, *, fraction: float = 1.0, cap: float = 1.0
) -> float:
    """Kelly bet size ``p - (1 - p) / r``, clamped at 0, scaled by ``fraction`` and capped.

    Parameters
    ----------
    p : float
        Probability of a win, in [0, 1].
    win_loss_ratio : float
        ``r``: the amount won per unit lost, positive.
    fraction : float
        Fractional Kelly multiplier in (0, 1] (0.5 is "half Kelly").
    cap : float
        Largest fraction of capital ever returned, in (0, 1].

    Returns
    -------
    float
        ``min(cap, fraction * max(0, p - (1 - p) / r))``; e.g. ``p=0.6, r=1`` gives 0.2.
    """
    p = _check_number(p, "p")
    r = _check_number(win_loss_ratio, "win_loss_ratio")
    fraction = _check_number(fraction, "fraction")
    cap = _check_number(cap, "cap")
    if not 0.0 <= p <= 1.0:
        raise InvalidInput(f"p must be a probability in [0, 1], got {p}", field="p")
    if r <= 0.0:
        raise InvalidInput(f"win_loss_ratio must be positive, got {r}", field="win_loss_ratio")
    if not 0.0 < fraction <= 1.0:
        raise InvalidInput(f"fraction must be in (0, 1], got {fraction}", field="fraction")
    if not 0.0 < cap <= 1.0:
        raise InvalidInput(f"cap must be in (0, 1], got {cap}", field="cap")
    full = max(0.0, p - (1.0 - p) / r)
    return min(cap, fraction * full)
