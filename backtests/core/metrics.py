"""Performance, cost and tax measures of a backtest, from its daily values, fills and tax years.

Conventions (stated on every report)
------------------------------------
* Values are the account's close-of-day value (positions at that day's closes plus cash); there
  are no external flows after the opening deposit, so daily returns are ``V_t / V_{t-1} - 1``.
* CAGR uses calendar time: ``(V_T / V_0) ** (365.25 / days) - 1``.
* Volatility, Sharpe and Sortino are annualised from daily returns (252 a year;
  :mod:`portfolios.core.risk`), with the cash rate as the risk-free rate. Calmar is CAGR over the
  maximum drawdown. A ratio that is undefined (no volatility, no drawdown) is ``None``.
* Tax of a year is the Schedule D netting of its realised gains (carryovers included) at the
  household's rates: net short- and long-term gains taxed at their rates after offsetting each
  other; a net loss is deducted from ordinary income (at the short-term rate) up to the limit.
* After tax: each year's tax is paid out of the account at the year's last trading day, pro rata
  (the after-tax wealth ``W`` follows the account's daily returns and loses ``tax * W / V`` that
  day; a refund adds). At the end the account is liquidated: the tax on its unrealised gains,
  netted with the final year's realised gains, is paid too. ``after_tax_cagr`` is the CAGR of
  ``W`` liquidated; ``after_tax_cagr_held`` the same without the final liquidation. A capital
  loss still carried forward after the liquidation is counted at nothing (it is reported).
* Turnover is one-way: the traded notional after the opening investment, halved, over the
  average value, per year. Trading costs are fees plus the distance of each fill from that day's
  close (spread and impact), in dollars and in basis points of the average value per year.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from portfolios.core import risk
from portfolios.core.errors import DomainError, InvalidInput

DAYS_PER_YEAR = 365.25


def _require_values(values: pd.Series) -> pd.Series:
    if not isinstance(values, pd.Series) or len(values) < 2:
        raise InvalidInput("need a series of at least two daily values", field="values")
    series = values.astype(float)
    if not np.isfinite(series.to_numpy()).all() or (series <= 0).any():
        raise InvalidInput("daily values must be finite and positive", field="values")
    if not series.index.is_monotonic_increasing or series.index.has_duplicates:
        raise InvalidInput("daily values must be indexed by increasing dates", field="values")
    return series


def _years(index: pd.Index) -> float:
    first, last = pd.Timestamp(index[0]), pd.Timestamp(index[-1])
    return max((last - first).days, 1) / DAYS_PER_YEAR


def daily_returns(values: pd.Series) -> pd.Series:
    """Simple daily returns of a value path, shape (T - 1,)."""
    series = _require_values(values)
    return series.pct_change().iloc[1:]


def cagr(values: pd.Series) -> float:
    """Compound annual growth rate over calendar time (see the module docstring)."""
    series = _require_values(values)
    return float((series.iloc[-1] / series.iloc[0]) ** (1.0 / _years(series.index)) - 1.0)


def drawdowns(values: pd.Series) -> pd.Series:
    """Fall from the running peak at each day, as a non-positive fraction (shape (T,))."""
    series = _require_values(values)
    return series / series.cummax() - 1.0


def _ratio(compute: Any) -> float | None:
    try:
        value = float(compute())
    except DomainError:
        return None
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class Performance:
    start: date
    end: date
    years: float
    total_return: float
    cagr: float
    volatility: float
    sharpe: float | None
    sortino: float | None
    calmar: float | None
    max_drawdown: float

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["start"] = self.start.isoformat()
        data["end"] = self.end.isoformat()
        return data


def performance(values: pd.Series, *, risk_free_rate: float = 0.0) -> Performance:
    """The headline measures of a daily value path.

    Parameters
    ----------
    values : pd.Series, shape (T,)
        Close-of-day values indexed by date, T >= 2.
    risk_free_rate : float
        Annual rate for Sharpe and Sortino.
    """
    series = _require_values(values)
    returns = series.pct_change().iloc[1:].to_numpy()
    growth = cagr(series)
    mdd = float(risk.max_drawdown(series.to_numpy(), kind="values"))
    return Performance(
        start=pd.Timestamp(series.index[0]).date(),
        end=pd.Timestamp(series.index[-1]).date(),
        years=_years(series.index),
        total_return=float(series.iloc[-1] / series.iloc[0] - 1.0),
        cagr=growth,
        volatility=float(risk.volatility(returns)) if len(returns) >= 2 else 0.0,
        sharpe=_ratio(lambda: risk.sharpe(returns, risk_free_rate=risk_free_rate)),
        sortino=_ratio(lambda: risk.sortino(returns, risk_free_rate=risk_free_rate)),
        calmar=growth / mdd if mdd > 1e-12 else None,
        max_drawdown=mdd,
    )


def calendar_year_returns(values: pd.Series) -> dict[int, float]:
    """Return of each calendar year: from the last value of the year before (or the first value)
    to the year's last value."""
    series = _require_values(values)
    years = pd.DatetimeIndex(pd.to_datetime(series.index)).year
    result: dict[int, float] = {}
    base = float(series.iloc[0])
    for year in sorted(set(years)):
        last = float(series[years == year].iloc[-1])
        result[int(year)] = last / base - 1.0
        base = last
    return result


def tax_due(
    *,
    net_short_term: float,
    net_long_term: float,
    deductible_loss: float,
    short_rate: float,
    long_rate: float,
) -> float:
    """Tax of one year from its Schedule D netting (negative: the deduction's saving).

    Parameters
    ----------
    net_short_term, net_long_term
        Schedule D lines 7 and 15 (carryovers in included).
    deductible_loss
        Schedule D line 21 as a positive amount (only used when the net is a loss).
    short_rate, long_rate
        Marginal rates; ordinary income is taxed at ``short_rate``.
    """
    st, lt = float(net_short_term), float(net_long_term)
    if st + lt <= 0:
        return -float(deductible_loss) * short_rate
    if st >= 0 and lt >= 0:
        return st * short_rate + lt * long_rate
    if st < 0:
        return (lt + st) * long_rate
    return (st + lt) * short_rate


def liquidation_tax(
    *,
    net_short_term: float,
    net_long_term: float,
    unrealised_short: float,
    unrealised_long: float,
    loss_limit: float,
    short_rate: float,
    long_rate: float,
) -> float:
    """Extra tax of selling everything on the last day, netted with that year's realised gains.

    ``net_*`` are the final year's Schedule D lines 7 and 15 without the liquidation; the
    liquidation adds its unrealised gains (or losses) to them.
    """

    def due(st: float, lt: float) -> float:
        deductible = min(-(st + lt), loss_limit) if st + lt < 0 else 0.0
        return tax_due(
            net_short_term=st,
            net_long_term=lt,
            deductible_loss=deductible,
            short_rate=short_rate,
            long_rate=long_rate,
        )

    before = due(net_short_term, net_long_term)
    after = due(net_short_term + unrealised_short, net_long_term + unrealised_long)
    return after - before


def carryforward_after_liquidation(
    *,
    net_short_term: float,
    net_long_term: float,
    unrealised_short: float,
    unrealised_long: float,
    loss_limit: float,
) -> float:
    """Capital loss left to carry forward after the final liquidation (valued at nothing in the
    after-tax figures: a conservative convention the report states)."""
    net = net_short_term + unrealised_short + net_long_term + unrealised_long
    if net >= 0:
        return 0.0
    return -net - min(-net, loss_limit)


def after_tax_wealth(
    values: pd.Series, taxes: Mapping[int, float], *, liquidation: float = 0.0
) -> pd.Series:
    """The after-tax wealth path ``W`` (see the module docstring), shape (T,).

    Parameters
    ----------
    values : pd.Series, shape (T,)
        The account's daily values.
    taxes : Mapping[int, float]
        Tax of each calendar year (negative: a saving), paid on the year's last trading day.
    liquidation : float
        Tax of liquidating on the last day, paid then.
    """
    series = _require_values(values)
    index = pd.DatetimeIndex(pd.to_datetime(series.index))
    years = index.year
    last_of_year = {int(y): int(np.flatnonzero(years == y)[-1]) for y in set(years)}
    payment = np.zeros(len(series))
    for year, amount in taxes.items():
        if int(year) in last_of_year:
            payment[last_of_year[int(year)]] += float(amount)
    payment[-1] += float(liquidation)
    v = series.to_numpy()
    wealth = np.empty_like(v)
    w = v[0]
    for t in range(len(v)):
        if t > 0:
            w *= v[t] / v[t - 1]
        if payment[t]:
            w -= payment[t] * w / v[t]
        wealth[t] = w
    if (wealth <= 0).any():
        raise InvalidInput("taxes exceed the account's value", field="taxes")
    return pd.Series(wealth, index=series.index, name="after_tax")


def turnover(trade_notional: Mapping[date, float], values: pd.Series) -> float:
    """One-way annual turnover: traded notional / 2 / average value / years."""
    series = _require_values(values)
    traded = sum(abs(float(v)) for v in trade_notional.values())
    return traded / 2.0 / float(series.mean()) / _years(series.index)


@dataclass(frozen=True)
class FillCost:
    """One fill, with the close of its day for measuring spread and impact."""

    day: date
    side: str
    quantity: float
    price: float
    fee: float
    close: float


def execution_costs(fills: Iterable[FillCost]) -> float:
    """Fees plus the distance of each fill from its day's close, in dollars (shape: scalar)."""
    total = 0.0
    for fill in fills:
        sign = 1.0 if fill.side == "buy" else -1.0
        total += fill.fee + sign * (fill.price - fill.close) * fill.quantity
    return total


def target_returns(
    closes: pd.DataFrame, targets: Sequence[tuple[date, Mapping[str, float]]]
) -> pd.Series:
    """Daily returns of the target portfolio, rebalanced to its weights every day, frictionless.

    Parameters
    ----------
    closes : pd.DataFrame, shape (T, n)
        Closes by date and symbol (gaps forward-filled inside).
    targets : sequence of (date, weights)
        Each target from its date on (weights need not sum to 1: the rest earns nothing). The
        target in force at the close of day t-1 earns day t's returns.
    """
    if closes.empty:
        raise InvalidInput("no closes", field="closes")
    returns = closes.sort_index().ffill().pct_change().fillna(0.0)
    weights = pd.DataFrame(0.0, index=returns.index, columns=returns.columns)
    for day, target in sorted(targets, key=lambda item: item[0]):
        stamp = pd.Timestamp(day)
        for symbol, _weight in target.items():
            if symbol not in weights.columns:
                raise InvalidInput(f"target symbol {symbol} has no closes", field="targets")
        row = pd.Series({s: float(w) for s, w in target.items()}, dtype=float)
        weights.loc[weights.index >= stamp, :] = 0.0
        weights.loc[weights.index >= stamp, row.index] = row.to_numpy()
    held = weights.shift(1).fillna(0.0)
    return (held * returns).sum(axis=1).iloc[1:]


def tracking_error(portfolio: pd.Series, target: pd.Series) -> float | None:
    """Annualised tracking error of daily returns against the target's (same dates)."""
    common = portfolio.index.intersection(target.index)
    if len(common) < 2:
        return None
    return _ratio(lambda: risk.tracking_error(portfolio.loc[common], target.loc[common]))


def regime_breakdown(returns: pd.Series, regimes: pd.Series) -> list[dict[str, Any]]:
    """Measures of the daily returns that fell in each volatility regime.

    Parameters
    ----------
    returns : pd.Series, shape (T,)
        Daily returns by date.
    regimes : pd.Series
        Regime label (``low``, ``normal``, ``high``) in force on each date, known before the
        day's return (missing during the classifier's warm-up).
    """
    aligned = regimes.reindex(returns.index)
    rows: list[dict[str, Any]] = []
    total = int(aligned.notna().sum())
    for label in ("low", "normal", "high"):
        sample = returns[aligned == label].to_numpy(dtype=float)
        if len(sample) == 0:
            rows.append({"regime": label, "days": 0, "share": 0.0})
            continue
        mean = float(sample.mean())
        sd = float(sample.std(ddof=1)) if len(sample) > 1 else 0.0
        rows.append(
            {
                "regime": label,
                "days": len(sample),
                "share": len(sample) / total if total else 0.0,
                "annual_return": float(
                    np.expm1(np.log1p(sample).mean() * risk.TRADING_DAYS_PER_YEAR)
                ),
                "volatility": sd * math.sqrt(risk.TRADING_DAYS_PER_YEAR),
                "sharpe": mean / sd * math.sqrt(risk.TRADING_DAYS_PER_YEAR) if sd > 0 else None,
                "worst_day": float(sample.min()),
            }
        )
    return rows


def harvest_value(with_harvest: pd.Series, without: pd.Series) -> dict[str, Any]:
    """The value of harvesting: after-tax return with it minus without, per calendar year and
    as a CAGR difference (both wealth paths over the same dates)."""
    common = with_harvest.index.intersection(without.index)
    if len(common) < 2:
        raise InvalidInput("the two runs share fewer than two dates", field="without")
    a, b = with_harvest.loc[common], without.loc[common]
    years_a, years_b = calendar_year_returns(a), calendar_year_returns(b)
    return {
        "per_year": {year: years_a[year] - years_b[year] for year in sorted(years_a)},
        "cagr": cagr(a) - cagr(b),
    }
