"""Expected returns and covariance matrices estimated from price (or return) histories.

Every estimate is annualised with a stated ``frequency``: the number of return periods in a year
(252 for daily closes, 52 for weekly, 12 for monthly). Returns are simple returns
``p_t / p_{t-1} - 1`` unless a function says otherwise.

Missing data is handled explicitly through ``missing``:

``"raise"`` (the default)
    any missing price or return is an :class:`~portfolios.core.errors.InvalidInput` naming the
    assets and how many values each lacks.
``"drop"``
    only the periods in which every asset has a return are used (complete cases).
``"pairwise"``
    each statistic uses every observation available to it: an asset's mean uses all of its
    returns, a covariance entry all the periods both assets traded (PyPortfolioOpt's and pandas'
    behaviour). A pairwise covariance matrix need not be positive semidefinite; the optimisers
    take an explicit ``psd`` argument for that case.

Inputs are a ``pandas.DataFrame`` (rows are dates, columns are symbols) or a 2-D ``numpy``
array; outputs are of the same kind (a ``Series``/``DataFrame`` indexed by symbol, or arrays).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

import numpy as np
import pandas as pd

from portfolios.core.errors import InvalidInput

TRADING_DAYS_PER_YEAR = 252

MissingData = Literal["raise", "drop", "pairwise"]
PriceTable: TypeAlias = pd.DataFrame | pd.Series | np.ndarray
Vector: TypeAlias = pd.Series | np.ndarray
Matrix: TypeAlias = pd.DataFrame | np.ndarray

__all__ = [
    "TRADING_DAYS_PER_YEAR",
    "FactorModel",
    "MissingData",
    "capm_return",
    "ema_historical_return",
    "exp_cov",
    "factor_model",
    "ledoit_wolf",
    "ledoit_wolf_shrinkage",
    "market_implied_risk_aversion",
    "mean_historical_return",
    "returns_from_prices",
    "sample_cov",
]


# --------------------------------------------------------------------------------------------
# Input handling
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _ReturnTable:
    """Periodic returns as a float array with NaN where an asset has no return."""

    values: np.ndarray  # (T, n)
    symbols: pd.Index | None
    dates: pd.Index | None

    def vector(self, data: np.ndarray) -> Vector:
        if self.symbols is None:
            return data
        return pd.Series(data, index=self.symbols, dtype=float)

    def matrix(self, data: np.ndarray) -> Matrix:
        if self.symbols is None:
            return data
        return pd.DataFrame(data, index=self.symbols, columns=self.symbols, dtype=float)


def _check_frequency(frequency: float) -> float:
    if isinstance(frequency, bool) or not isinstance(frequency, int | float):
        raise InvalidInput("frequency must be a number of periods per year", field="frequency")
    if not math.isfinite(frequency) or frequency <= 0:
        raise InvalidInput(
            f"frequency must be a positive number of periods per year, got {frequency!r}",
            field="frequency",
        )
    return float(frequency)


def _check_missing(missing: str) -> None:
    if missing not in ("raise", "drop", "pairwise"):
        raise InvalidInput(
            f"missing must be 'raise', 'drop' or 'pairwise', got {missing!r}", field="missing"
        )


def _as_2d(data: PriceTable, name: str) -> tuple[np.ndarray, pd.Index | None, pd.Index | None]:
    if isinstance(data, pd.Series):
        data = data.to_frame()
    if isinstance(data, pd.DataFrame):
        try:
            values = data.to_numpy(dtype=float, na_value=np.nan)
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"{name} must be numeric", field=name) from exc
        symbols = pd.Index(data.columns)
        if symbols.has_duplicates:
            dupes = sorted({str(s) for s in symbols[symbols.duplicated()]})
            raise InvalidInput(f"{name} has duplicate columns: {', '.join(dupes)}", field=name)
        return values, symbols, pd.Index(data.index)
    if isinstance(data, np.ndarray):
        try:
            values = np.asarray(data, dtype=float)
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"{name} must be numeric", field=name) from exc
        if values.ndim == 1:
            values = values[:, None]
        if values.ndim != 2:
            raise InvalidInput(
                f"{name} must be 2-D (periods x assets), got {values.ndim} dimensions", field=name
            )
        return values.copy(), None, None
    raise InvalidInput(
        f"{name} must be a pandas DataFrame or a numpy array, got {type(data).__name__}",
        field=name,
    )


def _label(symbols: pd.Index | None, j: int | np.integer) -> str:
    return str(symbols[j]) if symbols is not None else f"column {j}"


def _describe_missing(mask: np.ndarray, symbols: pd.Index | None) -> str:
    counts = mask.sum(axis=0)
    parts = [f"{_label(symbols, j)} ({int(c)})" for j, c in enumerate(counts) if c]
    shown = ", ".join(parts[:10]) + (f" and {len(parts) - 10} more" if len(parts) > 10 else "")
    return shown


def _returns_table(
    data: PriceTable,
    *,
    returns_data: bool,
    missing: MissingData,
    log_returns: bool = False,
    name: str = "prices",
    min_periods: int = 2,
) -> _ReturnTable:
    _check_missing(missing)
    values, symbols, dates = _as_2d(data, name)
    if values.shape[1] == 0:
        raise InvalidInput(f"{name} has no assets", field=name)
    if np.isinf(values).any():
        cols = np.isinf(values).any(axis=0)
        bad = ", ".join(_label(symbols, j) for j in np.flatnonzero(cols))
        raise InvalidInput(f"{name} contain infinite values for {bad}", field=name)
    nan = np.isnan(values)
    if missing == "raise" and nan.any():
        raise InvalidInput(
            f"{name} have missing values for {_describe_missing(nan, symbols)}; "
            "pass missing='drop' or missing='pairwise' to handle them",
            field=name,
        )
    if returns_data:
        rets = values
        kind = "log returns" if log_returns else "returns"
        if not log_returns and (rets[~nan] <= -1.0).any():
            raise InvalidInput(f"{name}: simple {kind} must be above -1 (-100%)", field=name)
        ret_dates = dates
    else:
        if (values[~nan] <= 0.0).any():
            cols = ((values <= 0.0) & ~nan).any(axis=0)
            bad = ", ".join(_label(symbols, j) for j in np.flatnonzero(cols))
            raise InvalidInput(
                f"{name} must be positive; non-positive prices for {bad}", field=name
            )
        if values.shape[0] < 2:
            raise InvalidInput(f"{name} need at least two dates to form a return", field=name)
        ratio = values[1:] / values[:-1]
        rets = np.log(ratio) if log_returns else ratio - 1.0
        ret_dates = dates[1:] if dates is not None else None
    nan_r = np.isnan(rets)
    keep = ~nan_r.any(axis=1) if missing == "drop" else ~nan_r.all(axis=1)
    rets = rets[keep]
    if ret_dates is not None:
        ret_dates = ret_dates[keep]
    counts = np.isfinite(rets).sum(axis=0)
    if rets.shape[0] < min_periods or (counts < min_periods).any():
        short = [_label(symbols, j) for j in np.flatnonzero(counts < min_periods)]
        detail = f" ({', '.join(short[:10])})" if short else ""
        raise InvalidInput(
            f"{name}: need at least {min_periods} returns per asset after handling missing "
            f"data with missing={missing!r}{detail}",
            field=name,
        )
    return _ReturnTable(values=rets, symbols=symbols, dates=ret_dates)


def returns_from_prices(
    prices: PriceTable, *, log_returns: bool = False, missing: MissingData = "raise"
) -> Matrix:
    """Periodic returns from a table of prices.

    Parameters
    ----------
    prices : DataFrame or ndarray, shape (T, n)
        Prices, one row per date, one column per asset; all positive.
    log_returns : bool
        ``log(p_t / p_{t-1})`` instead of ``p_t / p_{t-1} - 1``.
    missing : {"raise", "drop", "pairwise"}
        ``"drop"`` keeps only the periods in which every asset has a return, ``"pairwise"``
        keeps NaN where an asset has none (rows where no asset has a return are removed).

    Returns
    -------
    DataFrame or ndarray, shape (T', n)
        Returns, indexed by the later date of each pair when given pandas.
    """
    table = _returns_table(prices, returns_data=False, missing=missing, log_returns=log_returns)
    if table.symbols is None:
        return table.values
    return pd.DataFrame(table.values, index=table.dates, columns=table.symbols)


# --------------------------------------------------------------------------------------------
# Expected returns
# --------------------------------------------------------------------------------------------


def _annualise_mean(rets: np.ndarray, frequency: float, compounding: bool) -> np.ndarray:
    valid = np.isfinite(rets)
    counts = valid.sum(axis=0)
    filled = np.where(valid, rets, 0.0)
    if compounding:
        return np.asarray(np.expm1(np.log1p(filled).sum(axis=0) * frequency / counts))
    return np.asarray(filled.sum(axis=0) / counts * frequency)


def mean_historical_return(
    prices: PriceTable,
    *,
    returns_data: bool = False,
    compounding: bool = True,
    frequency: float = TRADING_DAYS_PER_YEAR,
    missing: MissingData = "raise",
) -> Vector:
    """Annualised mean historical return of each asset.

    With ``compounding`` the geometric mean is annualised, ``prod(1 + r) ** (frequency / N) - 1``
    over the asset's N returns; otherwise the arithmetic mean times ``frequency``.

    Parameters
    ----------
    prices : DataFrame or ndarray, shape (T, n)
        Prices, or simple returns when ``returns_data`` is true.
    returns_data : bool
        Whether ``prices`` already holds periodic simple returns.
    compounding : bool
        Geometric (true) or arithmetic (false) annualisation.
    frequency : float
        Return periods per year (252 for daily data).
    missing : {"raise", "drop", "pairwise"}
        How missing values are handled (see the module docstring).

    Returns
    -------
    Series or ndarray, shape (n,)
        Annualised expected return per asset.
    """
    freq = _check_frequency(frequency)
    table = _returns_table(prices, returns_data=returns_data, missing=missing, min_periods=1)
    return table.vector(_annualise_mean(table.values, freq, compounding))


def _ew_weights(n_periods: int, span: float) -> np.ndarray:
    if isinstance(span, bool) or not isinstance(span, int | float) or not span >= 1:
        raise InvalidInput(f"span must be at least 1, got {span!r}", field="span")
    alpha = 2.0 / (span + 1.0)
    # Newest observation has weight 1, the one before (1 - alpha), and so on (pandas adjust=True).
    return np.asarray((1.0 - alpha) ** np.arange(n_periods - 1, -1, -1, dtype=float))


def ema_historical_return(
    prices: PriceTable,
    *,
    span: float = 500,
    returns_data: bool = False,
    compounding: bool = True,
    frequency: float = TRADING_DAYS_PER_YEAR,
    missing: MissingData = "raise",
) -> Vector:
    """Annualised exponentially weighted mean return, recent periods weighted more.

    The weight of the return ``j`` periods before the last is ``(1 - a) ** j`` with
    ``a = 2 / (span + 1)`` (pandas' ``ewm(span=span, adjust=True)``). With ``compounding`` the
    weighted mean ``m`` is annualised as ``(1 + m) ** frequency - 1``, otherwise ``m * frequency``.

    Parameters
    ----------
    prices : DataFrame or ndarray, shape (T, n)
        Prices, or simple returns when ``returns_data`` is true.
    span : float
        Span of the exponential weights in periods (at least 1).
    returns_data, compounding, frequency, missing
        As for :func:`mean_historical_return`.

    Returns
    -------
    Series or ndarray, shape (n,)
    """
    freq = _check_frequency(frequency)
    table = _returns_table(prices, returns_data=returns_data, missing=missing, min_periods=1)
    weights = _ew_weights(table.values.shape[0], span)
    rets = table.values
    valid = np.isfinite(rets)
    w = np.where(valid, weights[:, None], 0.0)
    mean = (np.where(valid, rets, 0.0) * w).sum(axis=0) / w.sum(axis=0)
    result = (1.0 + mean) ** freq - 1.0 if compounding else mean * freq
    return table.vector(np.asarray(result))


def capm_return(
    prices: PriceTable,
    *,
    market_prices: PriceTable | None = None,
    returns_data: bool = False,
    risk_free_rate: float = 0.0,
    compounding: bool = True,
    frequency: float = TRADING_DAYS_PER_YEAR,
    missing: MissingData = "raise",
) -> Vector:
    """CAPM prior for expected returns: ``r_f + beta_i (E[R_m] - r_f)``.

    ``beta_i = cov(R_i, R_m) / var(R_m)`` from periodic returns. Without ``market_prices`` the
    market is the equally weighted average of the assets' returns in each period. ``E[R_m]`` is
    annualised like :func:`mean_historical_return`.

    Parameters
    ----------
    prices : DataFrame or ndarray, shape (T, n)
        Asset prices (or returns when ``returns_data``).
    market_prices : Series, DataFrame (one column) or ndarray, shape (T,), optional
        The market index, on the same dates (aligned by date when both are pandas).
    risk_free_rate : float
        Annual risk-free rate.
    returns_data, compounding, frequency, missing
        As for :func:`mean_historical_return`.

    Returns
    -------
    Series or ndarray, shape (n,)
    """
    freq = _check_frequency(frequency)
    _check_finite_scalar(risk_free_rate, "risk_free_rate")
    assets, symbols, dates = _as_2d(prices, "prices")
    n = assets.shape[1]
    if market_prices is not None:
        market, _, mdates = _as_2d(market_prices, "market_prices")
        if market.shape[1] != 1:
            raise InvalidInput("market_prices must have exactly one column", field="market_prices")
        if dates is not None and mdates is not None:
            market = (
                pd.Series(market[:, 0], index=mdates).reindex(dates).to_numpy(dtype=float)[:, None]
            )
        elif market.shape[0] != assets.shape[0]:
            raise InvalidInput(
                f"market_prices has {market.shape[0]} rows but prices has {assets.shape[0]}",
                field="market_prices",
            )
        combined = np.hstack([assets, market])
        table = _returns_table(combined, returns_data=returns_data, missing=missing)
        rets = table.values
    else:
        table = _returns_table(assets, returns_data=returns_data, missing=missing)
        asset_rets = table.values
        with np.errstate(invalid="ignore"):
            market_rets = np.nanmean(asset_rets, axis=1)
        rets = np.hstack([asset_rets, market_rets[:, None]])
    cov = _pairwise_cov(rets, weights=None, unbiased=True, symbols=None)
    betas = cov[:n, n] / cov[n, n]
    market_mean = float(_annualise_mean(rets[:, n : n + 1], freq, compounding)[0])
    result = risk_free_rate + betas * (market_mean - risk_free_rate)
    if symbols is None:
        return np.asarray(result)
    return pd.Series(result, index=symbols, dtype=float)


def market_implied_risk_aversion(
    market_prices: PriceTable,
    *,
    returns_data: bool = False,
    risk_free_rate: float = 0.0,
    frequency: float = TRADING_DAYS_PER_YEAR,
    missing: MissingData = "raise",
) -> float:
    """The market's risk aversion ``delta = (E[R_m] - r_f) / var(R_m)``, both annualised.

    The Black-Litterman prior uses it as ``Pi = delta * Sigma @ w_mkt``.

    Parameters
    ----------
    market_prices : Series, DataFrame (one column) or ndarray, shape (T,)
        Prices of a market index (or its returns when ``returns_data``).
    risk_free_rate : float
        Annual risk-free rate.
    frequency, missing
        As for :func:`mean_historical_return`.
    """
    freq = _check_frequency(frequency)
    _check_finite_scalar(risk_free_rate, "risk_free_rate")
    table = _returns_table(
        market_prices, returns_data=returns_data, missing=missing, name="market_prices"
    )
    if table.values.shape[1] != 1:
        raise InvalidInput("market_prices must have exactly one column", field="market_prices")
    r = table.values[:, 0]
    r = r[np.isfinite(r)]
    variance = float(np.var(r, ddof=1)) * freq
    if variance <= 0:
        raise InvalidInput("market returns have zero variance", field="market_prices")
    return (float(np.mean(r)) * freq - risk_free_rate) / variance


def _check_finite_scalar(value: float, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating | np.integer):
        raise InvalidInput(f"{name} must be a number", field=name)
    if not math.isfinite(float(value)):
        raise InvalidInput(f"{name} must be finite, got {value!r}", field=name)
    return float(value)


# --------------------------------------------------------------------------------------------
# Covariance
# --------------------------------------------------------------------------------------------


def _pairwise_cov(
    rets: np.ndarray,
    *,
    weights: np.ndarray | None,
    unbiased: bool,
    symbols: pd.Index | None,
) -> np.ndarray:
    """(Weighted) covariance using, for each pair, the periods in which both have a return."""
    valid = np.isfinite(rets)
    # Centre each column on its own mean first: covariance is shift invariant and this keeps the
    # pairwise formula below free of cancellation.
    counts = valid.sum(axis=0)
    col_mean = np.where(valid, rets, 0.0).sum(axis=0) / np.maximum(counts, 1)
    x = np.where(valid, rets - col_mean, 0.0)
    m = valid.astype(float)
    w = np.ones(rets.shape[0]) if weights is None else weights
    xw = x * w[:, None]
    mw = m * w[:, None]
    if valid.all():
        total = w.sum()
        mean = xw.sum(axis=0) / total
        cov = (xw.T @ x) / total - np.outer(mean, mean)
        n_pairs = np.full((rets.shape[1], rets.shape[1]), float(rets.shape[0]))
    else:
        wsum = mw.T @ m
        n_pairs = m.T @ m
        with np.errstate(invalid="ignore", divide="ignore"):
            sx = (xw.T @ m) / wsum
            cov = (xw.T @ x) / wsum - sx * sx.T
    if unbiased:
        if (n_pairs < 2).any():
            i, j = np.argwhere(n_pairs < 2)[0]
            raise InvalidInput(
                f"{_label(symbols, int(i))} and {_label(symbols, int(j))} have fewer than two "
                "returns in common; their covariance is undefined",
                field="prices",
            )
        cov = cov * n_pairs / (n_pairs - 1.0)
    cov = (cov + cov.T) / 2.0
    return np.asarray(cov)


def sample_cov(
    prices: PriceTable,
    *,
    returns_data: bool = False,
    frequency: float = TRADING_DAYS_PER_YEAR,
    log_returns: bool = False,
    missing: MissingData = "raise",
) -> Matrix:
    """Annualised sample covariance (``ddof=1``) of periodic returns.

    Parameters
    ----------
    prices : DataFrame or ndarray, shape (T, n)
        Prices, or returns when ``returns_data`` is true.
    returns_data : bool
        Whether ``prices`` already holds periodic returns.
    frequency : float
        Return periods per year.
    log_returns : bool
        Use log returns instead of simple returns.
    missing : {"raise", "drop", "pairwise"}
        ``"pairwise"`` gives pandas' pairwise-complete covariance, which need not be PSD.

    Returns
    -------
    DataFrame or ndarray, shape (n, n)
    """
    freq = _check_frequency(frequency)
    table = _returns_table(
        prices, returns_data=returns_data, missing=missing, log_returns=log_returns
    )
    cov = _pairwise_cov(table.values, weights=None, unbiased=True, symbols=table.symbols)
    return table.matrix(cov * freq)


def exp_cov(
    prices: PriceTable,
    *,
    span: float = 180,
    returns_data: bool = False,
    frequency: float = TRADING_DAYS_PER_YEAR,
    log_returns: bool = False,
    missing: MissingData = "raise",
) -> Matrix:
    """Annualised exponentially weighted covariance, recent periods weighted more.

    Each period ``j`` periods before the last has weight ``(1 - a) ** j``, ``a = 2 / (span + 1)``;
    the covariance is the weighted second moment about the weighted means (no small-sample
    correction), times ``frequency``. With ``missing="pairwise"`` each pair uses the weights of
    the periods in which both assets have a return.

    Parameters
    ----------
    prices : DataFrame or ndarray, shape (T, n)
    span : float
        Span of the exponential weights in periods (at least 1).
    returns_data, frequency, log_returns, missing
        As for :func:`sample_cov`.

    Returns
    -------
    DataFrame or ndarray, shape (n, n)
    """
    freq = _check_frequency(frequency)
    table = _returns_table(
        prices, returns_data=returns_data, missing=missing, log_returns=log_returns
    )
    weights = _ew_weights(table.values.shape[0], span)
    cov = _pairwise_cov(table.values, weights=weights, unbiased=False, symbols=table.symbols)
    return table.matrix(cov * freq)


def _complete_returns(
    prices: PriceTable, *, returns_data: bool, missing: MissingData, what: str
) -> _ReturnTable:
    if missing == "pairwise":
        raise InvalidInput(
            f"{what} needs complete data: pass missing='drop' (complete periods only) or "
            "clean the prices first",
            field="missing",
        )
    return _returns_table(prices, returns_data=returns_data, missing=missing)


def ledoit_wolf_shrinkage(returns: np.ndarray) -> tuple[np.ndarray, float]:
    """Ledoit-Wolf (2004) shrinkage of the covariance of ``returns`` towards a scaled identity.

    Parameters
    ----------
    returns : ndarray, shape (T, n)
        Complete periodic returns (no NaN).

    Returns
    -------
    covariance : ndarray, shape (n, n)
        ``(1 - delta) S + delta * mu * I`` with ``S`` the maximum-likelihood sample covariance and
        ``mu`` its average variance; per period, not annualised.
    delta : float
        The estimated optimal shrinkage intensity in [0, 1].
    """
    x = np.asarray(returns, dtype=float)
    if x.ndim != 2 or not np.isfinite(x).all():
        raise InvalidInput("returns must be a complete 2-D array", field="returns")
    t, n = x.shape
    x = x - x.mean(axis=0)
    emp_cov = x.T @ x / t
    mu = float(np.trace(emp_cov)) / n
    x2 = x**2
    beta_sum = float((x2.T @ x2).sum())
    delta_sum = float(((x.T @ x) ** 2).sum()) / t**2
    beta = (beta_sum / t - delta_sum) / (n * t)
    delta = (delta_sum - 2.0 * mu * float(np.trace(emp_cov)) + n * mu**2) / n
    beta = min(beta, delta)
    shrinkage = 0.0 if beta == 0 else beta / delta
    shrunk = (1.0 - shrinkage) * emp_cov
    shrunk.flat[:: n + 1] += shrinkage * mu
    return shrunk, float(shrinkage)


def ledoit_wolf(
    prices: PriceTable,
    *,
    returns_data: bool = False,
    frequency: float = TRADING_DAYS_PER_YEAR,
    missing: MissingData = "raise",
) -> Matrix:
    """Annualised Ledoit-Wolf shrinkage covariance (constant-variance target).

    The sample covariance is shrunk towards ``mu * I`` (``mu`` the average variance) with the
    intensity of Ledoit and Wolf (2004), "A well-conditioned estimator for large-dimensional
    covariance matrices" (the estimator of scikit-learn and PyPortfolioOpt). The result is
    positive definite whenever some asset has non-zero variance.

    Parameters
    ----------
    prices : DataFrame or ndarray, shape (T, n)
    returns_data, frequency
        As for :func:`sample_cov`.
    missing : {"raise", "drop"}
        Shrinkage needs complete data; ``"pairwise"`` is refused.

    Returns
    -------
    DataFrame or ndarray, shape (n, n)
    """
    freq = _check_frequency(frequency)
    table = _complete_returns(
        prices, returns_data=returns_data, missing=missing, what="Ledoit-Wolf shrinkage"
    )
    shrunk, _ = ledoit_wolf_shrinkage(table.values)
    return table.matrix(shrunk * freq)


# --------------------------------------------------------------------------------------------
# Factor model
# --------------------------------------------------------------------------------------------


def _readonly(values: np.ndarray) -> np.ndarray:
    out = np.array(values, dtype=float, copy=True)
    out.setflags(write=False)
    return out


@dataclass(frozen=True, eq=False)
class FactorModel:
    """A k-factor covariance ``Sigma = B F B' + diag(D)`` for large universes.

    Attributes
    ----------
    loadings : ndarray, shape (n, k)
        Factor exposures ``B`` of each asset.
    factor_covariance : ndarray, shape (k, k)
        Annualised covariance ``F`` of the factor returns.
    specific_variance : ndarray, shape (n,)
        Annualised idiosyncratic variance ``D`` of each asset (positive).
    symbols : tuple of str, optional
        The assets, in row order of ``loadings``.
    factor_names : tuple of str, optional
    """

    loadings: np.ndarray
    factor_covariance: np.ndarray
    specific_variance: np.ndarray
    symbols: tuple[str, ...] | None = None
    factor_names: tuple[str, ...] | None = field(default=None)

    def __post_init__(self) -> None:
        b = np.asarray(self.loadings, dtype=float)
        f = np.asarray(self.factor_covariance, dtype=float)
        d = np.asarray(self.specific_variance, dtype=float)
        if b.ndim != 2:
            raise InvalidInput("loadings must be an (n, k) matrix", field="loadings")
        n, k = b.shape
        if f.shape != (k, k):
            raise InvalidInput(
                f"factor_covariance must be ({k}, {k}) for {k} factors, got {f.shape}",
                field="factor_covariance",
            )
        if d.shape != (n,):
            raise InvalidInput(
                f"specific_variance must have {n} entries, got shape {d.shape}",
                field="specific_variance",
            )
        for name, arr in (("loadings", b), ("factor_covariance", f), ("specific_variance", d)):
            if not np.isfinite(arr).all():
                raise InvalidInput(f"{name} must be finite", field=name)
        if not np.allclose(f, f.T, rtol=1e-10, atol=1e-14):
            raise InvalidInput("factor_covariance must be symmetric", field="factor_covariance")
        if k and np.linalg.eigvalsh((f + f.T) / 2).min() < -1e-10 * max(1.0, np.abs(f).max()):
            raise InvalidInput(
                "factor_covariance must be positive semidefinite", field="factor_covariance"
            )
        if (d <= 0).any():
            raise InvalidInput("specific_variance must be positive", field="specific_variance")
        if self.symbols is not None:
            symbols = tuple(str(s) for s in self.symbols)
            if len(symbols) != n:
                raise InvalidInput(f"symbols must name {n} assets", field="symbols")
            object.__setattr__(self, "symbols", symbols)
        if self.factor_names is not None:
            names = tuple(str(s) for s in self.factor_names)
            if len(names) != k:
                raise InvalidInput(f"factor_names must name {k} factors", field="factor_names")
            object.__setattr__(self, "factor_names", names)
        object.__setattr__(self, "loadings", _readonly(b))
        object.__setattr__(self, "factor_covariance", _readonly((f + f.T) / 2))
        object.__setattr__(self, "specific_variance", _readonly(d))

    @property
    def n_assets(self) -> int:
        return int(self.loadings.shape[0])

    @property
    def n_factors(self) -> int:
        return int(self.loadings.shape[1])

    def covariance(self) -> Matrix:
        """The dense covariance ``B F B' + diag(D)``, shape (n, n), labelled by symbol if known."""
        b = self.loadings
        cov = b @ self.factor_covariance @ b.T
        cov.flat[:: self.n_assets + 1] += self.specific_variance
        cov = (cov + cov.T) / 2.0
        if self.symbols is None:
            return cov
        return pd.DataFrame(cov, index=list(self.symbols), columns=list(self.symbols))


def factor_model(
    prices: PriceTable,
    *,
    n_factors: int | None = None,
    factor_returns: PriceTable | None = None,
    returns_data: bool = False,
    frequency: float = TRADING_DAYS_PER_YEAR,
    missing: MissingData = "raise",
    min_specific_share: float = 1e-4,
) -> FactorModel:
    """Estimate a k-factor covariance model from returns.

    Without ``factor_returns`` the factors are statistical: the ``n_factors`` leading principal
    components of the sample covariance (``B`` the eigenvectors, ``F`` the diagonal of their
    eigenvalues). With ``factor_returns`` (for example market, size and value returns on the
    same dates) ``B`` comes from an OLS regression with intercept of each asset on them and ``F``
    is their sample covariance. ``D`` is the variance the factors leave unexplained, floored at
    ``min_specific_share`` of the asset's own variance so that the model stays positive
    definite.

    Parameters
    ----------
    prices : DataFrame or ndarray, shape (T, n)
        Prices, or returns when ``returns_data``.
    n_factors : int, optional
        Number of statistical factors (required without ``factor_returns``), ``1 <= k < n``.
    factor_returns : DataFrame or ndarray, shape (T', k), optional
        Periodic returns of the factors; with pandas, aligned to the asset returns by date,
        otherwise the same number of rows as the asset returns.
    returns_data, frequency
        As for :func:`sample_cov`.
    missing : {"raise", "drop"}
        The model needs complete data; ``"pairwise"`` is refused.
    min_specific_share : float
        Floor of ``D_i`` as a share of asset ``i``'s sample variance, in (0, 1).

    Returns
    -------
    FactorModel
        Annualised.
    """
    freq = _check_frequency(frequency)
    if not 0.0 < min_specific_share < 1.0:
        raise InvalidInput("min_specific_share must be in (0, 1)", field="min_specific_share")
    table = _complete_returns(
        prices, returns_data=returns_data, missing=missing, what="a factor model"
    )
    rets = table.values
    t, n = rets.shape
    symbols = None if table.symbols is None else tuple(str(s) for s in table.symbols)
    asset_var = rets.var(axis=0, ddof=1)
    if factor_returns is None:
        if n_factors is None:
            raise InvalidInput("n_factors is required for statistical factors", field="n_factors")
        if isinstance(n_factors, bool) or not isinstance(n_factors, int):
            raise InvalidInput("n_factors must be an integer", field="n_factors")
        if not 1 <= n_factors < min(n, t):
            raise InvalidInput(
                f"n_factors must be between 1 and {min(n, t) - 1} for {n} assets and {t} "
                f"periods, got {n_factors}",
                field="n_factors",
            )
        x = (rets - rets.mean(axis=0)) / math.sqrt(t - 1)
        # Leading eigenpairs of the sample covariance x'x, from whichever Gram matrix is smaller
        # (a symmetric eigendecomposition is faster and steadier than an SVD of x).
        if n <= t:
            eig, vec = np.linalg.eigh(x.T @ x)
            top = np.argsort(eig)[::-1][:n_factors]
            loadings = vec[:, top]
        else:
            eig, vec = np.linalg.eigh(x @ x.T)
            top = np.argsort(eig)[::-1][:n_factors]
            loadings = x.T @ vec[:, top] / np.sqrt(np.maximum(eig[top], 1e-300))
        f_cov = np.diag(np.maximum(eig[top], 0.0))
        explained = (loadings**2) @ np.diag(f_cov)
        specific = asset_var - explained
        names: tuple[str, ...] | None = tuple(f"PC{i + 1}" for i in range(n_factors))
    else:
        fvalues, fnames, fdates = _as_2d(factor_returns, "factor_returns")
        if not np.isfinite(fvalues).all():
            raise InvalidInput("factor_returns must be complete and finite", field="factor_returns")
        if table.dates is not None and fdates is not None:
            aligned = pd.DataFrame(fvalues, index=fdates).reindex(table.dates)
            if aligned.isna().any().any():
                raise InvalidInput(
                    "factor_returns lack some of the asset return dates", field="factor_returns"
                )
            fvalues = aligned.to_numpy(dtype=float)
        elif fvalues.shape[0] != t:
            raise InvalidInput(
                f"factor_returns has {fvalues.shape[0]} rows but there are {t} asset returns",
                field="factor_returns",
            )
        k = fvalues.shape[1]
        if t <= k + 2:
            raise InvalidInput("too few periods for the number of factors", field="factor_returns")
        design = np.hstack([np.ones((t, 1)), fvalues])
        coef, *_ = np.linalg.lstsq(design, rets, rcond=None)
        loadings = coef[1:].T
        resid = rets - design @ coef
        f_cov = np.atleast_2d(np.cov(fvalues, rowvar=False, ddof=1))
        specific = (resid**2).sum(axis=0) / (t - k - 1)
        names = tuple(str(c) for c in fnames) if fnames is not None else None
    specific = np.maximum(specific, min_specific_share * asset_var)
    if (specific <= 0).any():
        zero = [_label(table.symbols, j) for j in np.flatnonzero(specific <= 0)]
        raise InvalidInput(f"returns of {', '.join(zero[:10])} have zero variance", field="prices")
    return FactorModel(
        loadings=loadings,
        factor_covariance=f_cov * freq,
        specific_variance=specific * freq,
        symbols=symbols,
        factor_names=names,
    )
