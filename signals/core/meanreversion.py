"""Mean reversion: an Ornstein-Uhlenbeck process fitted to log prices by AR(1) regression.

Sampled every period, ``dx = kappa (mu - x) dt + sigma dW`` is the AR(1) ``x_t = a + b x_t-1 + e``
with ``b = exp(-kappa)``, ``mu = a / (1 - b)`` and stationary deviation ``sd(e) / sqrt(1 - b^2)``.
The half-life of a deviation is ``ln 2 / kappa`` periods. Only ``0 < b < 1`` reverts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from portfolios.core.errors import InvalidInput
from signals.core.timeseries import require_series, require_window, to_datetime, up_to
from signals.core.types import Signal, SignalKind

# Dickey-Fuller 5% critical value for a regression with a constant (MacKinnon 2010, asymptotic).
UNIT_ROOT_CRITICAL_VALUE_5PCT = -2.86


#: A fitted slope this close to 1 is a unit root: a series that grows at a constant rate fits
#: ``b = 1`` give or take rounding (0.9999999999999998 on some machines), and treating that as
#: reversion would put its "mean" at ``a / (1 - b)``, some 1e13 log-units away.
UNIT_ROOT_TOLERANCE = 1e-9


def slope_reverts(slope: float) -> bool:
    """Whether an AR(1) slope ``b`` means deviations decay: ``0 < b < 1``, clear of 1 by
    :data:`UNIT_ROOT_TOLERANCE`."""
    return 0.0 < slope < 1.0 - UNIT_ROOT_TOLERANCE


@dataclass(frozen=True)
class OrnsteinUhlenbeckFit:
    """An AR(1) fit read as an Ornstein-Uhlenbeck process (per period of the input).

    Attributes
    ----------
    intercept, slope : float
        ``a`` and ``b`` of ``x_t = a + b x_t-1 + e``.
    kappa : float
        Mean-reversion speed ``-ln b`` per period (NaN when ``b <= 0``).
    mean : float
        Equilibrium level ``mu`` of ``x`` (log price when fitted to prices); NaN unless reverting.
    equilibrium : float
        ``mu`` in the input's own units (``exp(mu)`` for prices).
    sigma : float
        Diffusion ``sd(e) * sqrt(2 kappa / (1 - b^2))`` per square-root period.
    stationary_std : float
        ``sd(e) / sqrt(1 - b^2)``: the typical deviation from ``mu``.
    half_life : float
        ``ln 2 / kappa`` periods; infinite when ``b >= 1`` (to within :data:`UNIT_ROOT_TOLERANCE`).
    z_score : float
        ``(x_last - mu) / stationary_std``: the current deviation in typical deviations.
    residual_std : float
        ``sd(e)``.
    unit_root_statistic : float
        Dickey-Fuller t-statistic ``(b - 1) / se(b)``; strongly negative when the series reverts.
    observations : int
        Pairs ``(x_t-1, x_t)`` in the regression.
    """

    intercept: float
    slope: float
    kappa: float
    mean: float
    equilibrium: float
    sigma: float
    stationary_std: float
    half_life: float
    z_score: float
    residual_std: float
    unit_root_statistic: float
    observations: int

    @property
    def mean_reverting(self) -> bool:
        """Whether deviations decay (:func:`slope_reverts`)."""
        return slope_reverts(self.slope)


def _ou_from_regression(regression: Ar1Regression, last: float, log: bool) -> OrnsteinUhlenbeckFit:
    intercept, slope, residual_std = regression.intercept, regression.slope, regression.residual_std
    nan = float("nan")
    kappa = -math.log(slope) if slope > 0 else nan
    if slope_reverts(slope):
        mean = intercept / (1.0 - slope)
        stationary = residual_std / math.sqrt(1.0 - slope**2)
        sigma = residual_std * math.sqrt(2.0 * kappa / (1.0 - slope**2))
        half_life = math.log(2.0) / kappa
        z_score = (last - mean) / stationary if stationary > 0 else 0.0
    else:
        mean = stationary = sigma = z_score = nan
        half_life = math.inf if slope >= 1.0 - UNIT_ROOT_TOLERANCE else nan
    return OrnsteinUhlenbeckFit(
        intercept=intercept,
        slope=slope,
        kappa=kappa,
        mean=mean,
        equilibrium=math.exp(mean) if log and math.isfinite(mean) else mean,
        sigma=sigma,
        stationary_std=stationary,
        half_life=half_life,
        z_score=z_score,
        residual_std=residual_std,
        unit_root_statistic=(slope - 1.0) / regression.slope_std_error
        if regression.slope_std_error > 0
        else -math.inf,
        observations=regression.observations,
    )


@dataclass(frozen=True)
class Ar1Regression:
    """Least squares of ``x_t = a + b x_t-1 + e``."""

    intercept: float
    slope: float
    residual_std: float
    slope_std_error: float
    observations: int


def fit_ar1(values: np.ndarray) -> Ar1Regression:
    """Least squares of ``x_t`` on ``x_t-1``.

    Parameters
    ----------
    values : np.ndarray, shape (T,)
        At least 4 finite values that are not all equal.
    """
    x = np.asarray(values, dtype="float64")
    if x.ndim != 1 or len(x) < 4:
        raise InvalidInput("an AR(1) fit needs at least 4 observations", field="values")
    previous, current = x[:-1], x[1:]
    previous_centred = previous - previous.mean()
    variance = float(previous_centred @ previous_centred)
    if variance <= 1e-300:
        raise InvalidInput("an AR(1) fit needs values that move", field="values")
    slope = float(previous_centred @ (current - current.mean())) / variance
    intercept = float(current.mean() - slope * previous.mean())
    residual = current - intercept - slope * previous
    residual_std = math.sqrt(float(residual @ residual) / (len(residual) - 2))
    return Ar1Regression(
        intercept=intercept,
        slope=slope,
        residual_std=residual_std,
        slope_std_error=residual_std / math.sqrt(variance),
        observations=len(residual),
    )


def fit_ornstein_uhlenbeck(values: pd.Series, *, log: bool = True) -> OrnsteinUhlenbeckFit:
    """Fit an Ornstein-Uhlenbeck process to a series by AR(1) regression.

    Parameters
    ----------
    values : pd.Series, shape (T,)
        Prices (``log=True``: the fit is on their logarithms) or a spread (``log=False``),
        indexed by timestamp at a regular period.
    log : bool
        Whether to fit the logarithm of ``values``.
    """
    values = require_series(values, name="values", positive=log, min_length=4)
    x = np.log(values.to_numpy()) if log else values.to_numpy()
    return _ou_from_regression(fit_ar1(x), float(x[-1]), log)


def mean_reversion(close: pd.Series, *, window: int = 120) -> pd.DataFrame:
    """Rolling Ornstein-Uhlenbeck fit on log prices over the trailing ``window`` returns.

    Parameters
    ----------
    close : pd.Series, shape (T,)
    window : int
        Pairs ``(x_t-1, x_t)`` per fit.

    Returns
    -------
    pd.DataFrame, shape (T, 6)
        ``slope`` (b), ``unit_root_statistic`` (Dickey-Fuller t of ``b - 1``), ``half_life``
        (periods; infinite when ``b`` is 1 or more, to within :data:`UNIT_ROOT_TOLERANCE`),
        ``mean`` (mu, in log price), ``stationary_std`` and
        ``z_score``; NaN until ``window + 1`` rows and, but for the first two, wherever the fitted
        process does not revert.
    """
    close = require_series(close, name="close", positive=True)
    window = require_window(window, name="window", minimum=4)
    x = np.log(close)
    previous = x.shift(1)
    pairs = pd.DataFrame({"previous": previous, "current": x}).dropna()
    covariance_pc = pairs["previous"].rolling(window, min_periods=window).cov(pairs["current"])
    variance_p = pairs["previous"].rolling(window, min_periods=window).var()
    variance_c = pairs["current"].rolling(window, min_periods=window).var()
    slope = covariance_pc / variance_p.where(variance_p > 0)
    intercept = (
        pairs["current"].rolling(window).mean() - slope * pairs["previous"].rolling(window).mean()
    )
    residual_var = (
        (variance_c - slope * covariance_pc).clip(lower=0.0) * (window - 1) / (window - 2)
    )
    slope_error = np.sqrt(residual_var / ((window - 1) * variance_p.where(variance_p > 0)))
    reverting = (slope > 0) & (slope < 1.0 - UNIT_ROOT_TOLERANCE)
    mean = (intercept / (1.0 - slope)).where(reverting)
    stationary = np.sqrt((residual_var / (1.0 - slope**2)).where(reverting))
    half_life = (math.log(2.0) / -np.log(slope.where(reverting))).where(reverting)
    half_life = half_life.mask(slope >= 1.0 - UNIT_ROOT_TOLERANCE, math.inf)
    z_score = ((pairs["current"] - mean) / stationary.where(stationary > 0)).where(reverting)
    table = pd.DataFrame(
        {
            "slope": slope,
            "unit_root_statistic": (slope - 1.0) / slope_error.where(slope_error > 0),
            "half_life": half_life,
            "mean": mean,
            "stationary_std": stationary,
            "z_score": z_score,
        }
    )
    return table.reindex(close.index)


def mean_reversion_signal(
    close: pd.Series,
    *,
    asset: str,
    as_of: datetime,
    window: int = 120,
    max_half_life: float | None = None,
    unit_root_critical_value: float = UNIT_ROOT_CRITICAL_VALUE_5PCT,
) -> Signal | None:
    """The deviation from the fitted equilibrium at ``as_of``, or ``None`` if the price does not
    revert, or not fast enough.

    The fit uses the last ``window + 1`` prices at or before ``as_of``. ``value = -z`` (positive
    when the price is below equilibrium and expected to rise); confidence
    ``min(1, |z| / 3) * (1 - half_life / window)``. No signal when the Dickey-Fuller statistic
    of the fit does not reach ``unit_root_critical_value`` (a random walk fitted over a short
    window often looks mean-reverting by chance), or the half-life exceeds ``max_half_life``
    periods (default ``window / 2``).
    """
    close = up_to(require_series(close, name="close", positive=True), as_of, name="close")
    window = require_window(window, name="window", minimum=4)
    if len(close) < window + 1:
        raise InvalidInput(
            f"mean reversion needs {window + 1} prices, got {len(close)}", field="close"
        )
    used = close.iloc[-(window + 1) :]
    fit = fit_ornstein_uhlenbeck(used)
    limit = window / 2.0 if max_half_life is None else float(max_half_life)
    reverts = fit.mean_reverting and fit.unit_root_statistic <= unit_root_critical_value
    if not reverts or fit.half_life > limit:
        return None
    confidence = min(1.0, abs(fit.z_score) / 3.0) * max(0.0, 1.0 - fit.half_life / window)
    return Signal(
        asset=asset,
        kind=SignalKind.MEAN_REVERSION,
        value=-fit.z_score,
        confidence=min(1.0, max(0.0, confidence)),
        as_of=as_of,
        window_start=to_datetime(used.index[0]),
        window_end=to_datetime(used.index[-1]),
        details={
            "z_score": fit.z_score,
            "half_life": fit.half_life,
            "kappa": fit.kappa,
            "equilibrium": fit.equilibrium,
            "stationary_std": fit.stationary_std,
            "unit_root_statistic": fit.unit_root_statistic,
        },
    )
