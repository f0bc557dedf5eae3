"""The seeded demo market: years of daily bars with a factor structure, events and news.

:func:`simulate_history` draws daily log returns from the factor model of
:mod:`advisor.demo.factors` (market, sector and region factors, a rates factor, an idiosyncratic
part), with fat tails (Student-t, 5 degrees of freedom, scaled to unit variance), volatility
clustering (a GARCH(1, 1) multiplier common to all shocks) and one stressed period: an equity
sell-off of roughly 25-35% over a month or so, a flight to quality in treasuries, and a recovery
over the following year. Scheduled macro releases and rate decisions, random sector news,
quarterly earnings and other company news add jumps, and each of them is a
:class:`~advisor.demo.events.MarketEvent` that :mod:`advisor.demo.news` writes headlines about.

Prices are total-return style (as if distributions were reinvested), so the demo needs no
dividend ledger. Everything is deterministic given the seed, and vectorised: the only loops over
days are the volatility recursion and the monthly event calendar.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from advisor.demo import factors
from advisor.demo.events import EventKind, EventScope, MarketEvent
from advisor.demo.news import NewsEvent, news_for_events
from advisor.demo.trading_calendar import trading_days
from advisor.demo.universe import DEMO_UNIVERSE, DemoAsset, assets_by_symbol
from portfolios.core.errors import InvalidInput

DEFAULT_YEARS = 6
STUDENT_T_DOF = 5.0
GARCH_ALPHA = 0.06
GARCH_BETA = 0.92
GARCH_CAP = 6.0
"""The variance multiplier never exceeds 6 (about 2.4 times the normal volatility)."""
MAX_VOL_MULTIPLIER = 3.0
"""Clustering and stress together never make a day more than three times as volatile."""
T_CLIP = 6.0
"""Unit-variance Student-t draws are clipped at six (a 1-in-a-million tail is plenty)."""
TRACKING_NOISE = 0.00005
"""Daily tracking noise between funds of one identity group (about 0.08% a year)."""
MIN_DAYS_FOR_STRESS = 400
CRASH_DRAWDOWN = (0.25, 0.32)
"""The broad market's drawdown at the end of the sell-off, measured from its running peak."""
MIN_CRASH = 0.15
"""The sell-off takes at least 15% off the market even when it starts in a drawdown."""
CRASH_DAYS = (20, 36)
RECOVERY_DAYS = (150, 261)
CRASH_VOL = 1.8
RECOVERY_SHARE = 0.9
REBOUND_DAYS = 40
REBOUND_SHARE = 0.5
"""Half of the recovery comes in the first 40 days after the trough (a V-shaped rebound)."""
STRESS_MOVES: dict[str, float] = {
    # factor: total move over the sell-off (log return; a yield change for rates)
    "credit": -0.04,
    "municipal": -0.02,
    "real_estate": -0.06,
    "emerging_markets": -0.06,
    "intl_developed": -0.03,
    "commodities": -0.12,
    "energy": -0.08,
    "consumer_staples": 0.03,
    "utilities": 0.02,
    "health_care": 0.02,
    factors.RATES: -0.009,
}
GAP_SHARE = 0.25
"""Share of a day's ordinary move that happens overnight (the open's gap)."""
JUMP_GAP_SHARE = 0.85
"""Share of an event's jump that happens overnight."""
RANGE_SCALE = 0.5
"""High and low extend beyond open and close by about half a daily volatility."""
EARNINGS_SPACING = 63


@dataclass(frozen=True)
class DailyBar:
    """One day's OHLCV bar of one symbol, prices rounded to cents."""

    day: date
    symbol: str
    open: float
    high: float
    low: float
    close: float
    volume: int


@dataclass(frozen=True, eq=False)
class FactorModel:
    """The simulation parameters of a universe, as arrays in the universe's order.

    Shapes: N assets, K factors (:data:`advisor.demo.factors.FACTORS`), G identity groups.
    """

    assets: tuple[DemoAsset, ...]
    loadings: np.ndarray
    """(N, K) loadings; the rates column is minus the duration."""
    factor_vol: np.ndarray
    """(K,) daily volatility of the diffusive part of each factor (events excluded)."""
    factor_total_vol: np.ndarray
    """(K,) total daily volatility of each factor."""
    factor_chol: np.ndarray
    """(K, K) Cholesky factor of the factor correlation."""
    idio_vol: np.ndarray
    """(N,) daily volatility of the diffusive idiosyncratic part (company events excluded)."""
    idio_annual: np.ndarray
    """(N,) annual idiosyncratic volatility, events included."""
    identity_index: np.ndarray
    """(N,) column of each asset's identity group in the idiosyncratic shocks."""
    n_identities: int
    drift: np.ndarray
    """(N,) daily log drift."""
    daily_vol: np.ndarray
    """(N,) total daily volatility."""
    stock_index: np.ndarray
    """Positions of the single stocks."""
    factor_symbols: tuple[tuple[str, ...], ...]
    """For each factor, the symbols news about it names."""

    @classmethod
    def of(cls, assets: Sequence[DemoAsset]) -> FactorModel:
        """Validate ``assets`` and lay their parameters out as arrays."""
        if not assets:
            raise InvalidInput("the demo universe is empty", field="assets")
        assets = tuple(assets)
        assets_by_symbol(assets)  # refuses duplicate symbols
        loadings = np.stack(
            [
                factors.loading_vector(
                    beta=a.beta, sector_loadings=a.sector_loadings, rate_duration=a.rate_duration
                )
                for a in assets
            ]
        )
        total = factors.factor_daily_vols()
        diffusive = total * np.sqrt(1.0 - factors.factor_event_variance_share())
        idio_annual = np.array([a.idio_vol for a in assets])
        event_var = np.array(
            [factors.company_event_variance(a.idio_vol) if a.is_stock else 0.0 for a in assets]
        )
        idio_daily = np.sqrt((idio_annual**2 - event_var) / factors.TRADING_DAYS_PER_YEAR)
        keys: dict[str, int] = {}
        identity_index = np.array([keys.setdefault(a.identity_key, len(keys)) for a in assets])
        annual_vol = np.array([a.annual_vol for a in assets])
        drift = (
            np.log1p([a.expected_return for a in assets]) - 0.5 * annual_vol**2
        ) / factors.TRADING_DAYS_PER_YEAR
        return cls(
            assets=assets,
            loadings=loadings,
            factor_vol=diffusive,
            factor_total_vol=total,
            factor_chol=np.linalg.cholesky(factors.factor_correlation()),
            idio_vol=idio_daily,
            idio_annual=idio_annual,
            identity_index=identity_index,
            n_identities=len(keys),
            drift=drift,
            daily_vol=annual_vol / math.sqrt(factors.TRADING_DAYS_PER_YEAR),
            stock_index=np.array([i for i, a in enumerate(assets) if a.is_stock], dtype=int),
            factor_symbols=_factor_symbols(assets, loadings),
        )

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(asset.symbol for asset in self.assets)

    def factor_shocks(self, rng: np.random.Generator, days: int) -> np.ndarray:
        """Correlated, fat-tailed unit-variance factor shocks, shape ``(days, K)``."""
        return student_t(rng, (days, len(factors.FACTORS))) @ self.factor_chol.T

    def diffusive_returns(
        self,
        *,
        scale: np.ndarray,
        factor_shocks: np.ndarray,
        idio_shocks: np.ndarray,
        tracking: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Factor returns ``(T, K)`` and asset returns ``(T, N)`` before drift and events.

        ``scale`` (T,) is the volatility multiplier of each day, ``idio_shocks`` (T, G) one
        column per identity group, ``tracking`` (T, N) the tracking noise.
        """
        factor_returns = scale[:, None] * factor_shocks * self.factor_vol
        idio = scale[:, None] * idio_shocks[:, self.identity_index] * self.idio_vol
        return factor_returns, factor_returns @ self.loadings.T + idio + tracking


def _factor_symbols(
    assets: Sequence[DemoAsset], loadings: np.ndarray
) -> tuple[tuple[str, ...], ...]:
    names: list[tuple[str, ...]] = []
    for k, factor in enumerate(factors.FACTORS):
        if factor == factors.MARKET:
            chosen = [
                a.symbol
                for a in assets
                if a.asset_class == "us_equity" and not a.is_stock and a.beta >= 0.9
            ]
        elif factor == factors.RATES:
            chosen = [
                a.symbol
                for a in assets
                if a.asset_class in ("bond", "tips") and a.rate_duration >= 4.0
            ]
        else:
            chosen = [a.symbol for a, row in zip(assets, loadings, strict=True) if row[k] >= 0.5]
        names.append(tuple(chosen))
    return tuple(names)


def student_t(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Student-t draws (:data:`STUDENT_T_DOF` degrees of freedom) scaled to unit variance."""
    draws = rng.standard_t(STUDENT_T_DOF, size=shape) / math.sqrt(
        STUDENT_T_DOF / (STUDENT_T_DOF - 2.0)
    )
    return np.clip(draws, -T_CLIP, T_CLIP)


def garch_step(variance: float, shock: float) -> float:
    """Next day's variance multiplier after a standardized market ``shock`` (long-run 1)."""
    omega = 1.0 - GARCH_ALPHA - GARCH_BETA
    updated = omega + (GARCH_ALPHA * shock * shock + GARCH_BETA) * variance
    return min(updated, GARCH_CAP)


def garch_path(shocks: np.ndarray, initial: float = 1.0) -> np.ndarray:
    """Variance multipliers, shape ``(T,)``, driven by standardized market ``shocks`` (T,)."""
    variance = np.empty(len(shocks))
    current = initial
    for t, shock in enumerate(shocks.tolist()):
        variance[t] = current
        current = garch_step(current, shock)
    return variance


@dataclass(frozen=True)
class StressPeriod:
    """The simulated sell-off: trading-day indices and the market factor's total fall."""

    start: int
    trough: int
    """First day after the sell-off (exclusive end of the crash window)."""
    recovered: int
    """Exclusive end of the recovery window."""
    market_move: float
    """Target log drawdown of the broad market, from its running peak, at the trough."""


def _plan_stress(rng: np.random.Generator, market_path: np.ndarray) -> StressPeriod:
    """Place the sell-off in the middle of the history, at or near a running high.

    ``market_path`` (T,) is an approximate cumulative log path of the market.
    """
    days = len(market_path)
    crash = int(rng.integers(*CRASH_DAYS))
    recovery = int(rng.integers(*RECOVERY_DAYS))
    earliest = int(0.35 * days)
    latest = max(min(int(0.65 * days), days - crash - recovery), earliest + 1)
    underwater = (np.maximum.accumulate(market_path) - market_path)[earliest:latest]
    candidates = np.flatnonzero(underwater <= underwater.min() + 0.02)
    start = earliest + int(candidates[int(rng.random() * len(candidates))]) + 1
    drawdown = CRASH_DRAWDOWN[0] + (CRASH_DRAWDOWN[1] - CRASH_DRAWDOWN[0]) * float(rng.random())
    return StressPeriod(
        start=start,
        trough=start + crash,
        recovered=min(start + crash + recovery, days),
        market_move=math.log1p(-drawdown),
    )


def _stress_scale(period: StressPeriod, days: int) -> np.ndarray:
    """Volatility multiplier of the stressed period, shape ``(days,)``."""
    scale = np.ones(days)
    scale[period.start : period.trough] = CRASH_VOL
    after = np.arange(period.recovered - period.trough)
    scale[period.trough : period.recovered] = 1.0 + (CRASH_VOL - 1.0) * np.exp(-after / 20.0)
    return scale


def _apply_stress(factor_returns: np.ndarray, period: StressPeriod, market_drift: float) -> None:
    """Add the sell-off and recovery to ``factor_returns`` (T, K) in place.

    The market factor is bridged twice, with ``market_drift`` (a beta-one fund's daily drift)
    taken into account: the broad market ends the sell-off ``period.market_move`` (log) below its
    running peak, or at least :data:`MIN_CRASH` lower than where it started; it then wins back
    :data:`RECOVERY_SHARE` of its drawdown by the end of the recovery, half of it in the first
    :data:`REBOUND_DAYS` (a V-shaped rebound).
    """
    crash = slice(period.start, period.trough)
    recovery = slice(period.trough, period.recovered)
    crash_days = period.trough - period.start
    recovery_days = period.recovered - period.trough
    market = factor_returns[:, 0]
    path = np.concatenate([[0.0], np.cumsum(market[: period.start] + market_drift)])
    already = float(path[-1] - path.max())
    crash_move = min(period.market_move - already, math.log1p(-MIN_CRASH))
    market[crash] += (crash_move - crash_days * market_drift - market[crash].sum()) / crash_days
    profile = np.zeros(len(market))
    if recovery_days > 0:
        rebound_days = min(REBOUND_DAYS, recovery_days)
        rebound_share = REBOUND_SHARE if recovery_days > rebound_days else 1.0
        profile[period.trough : period.trough + rebound_days] = rebound_share / rebound_days
        if recovery_days > rebound_days:
            profile[period.trough + rebound_days : period.recovered] = (1 - rebound_share) / (
                recovery_days - rebound_days
            )
        regained = -RECOVERY_SHARE * (already + crash_move)
        shortfall = regained - recovery_days * market_drift - market[recovery].sum()
        market += shortfall * profile
    index = {name: k for k, name in enumerate(factors.FACTORS)}
    for name, move in STRESS_MOVES.items():
        column = factor_returns[:, index[name]]
        if name == factors.RATES:  # bridged too: treasuries always rally in the sell-off
            column[crash] -= column[crash].mean()
        column[crash] += move / crash_days
        column -= RECOVERY_SHARE * move * profile


# --------------------------------------------------------------------------------------------
# Events


def _lognormal_sizes(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return np.exp(factors.JUMP_LOG_SPREAD * rng.standard_normal(shape))


def _signs(draws: np.ndarray, up_probability: float) -> np.ndarray:
    return np.where(draws < up_probability, 1, -1)


def _monthly_days(days: Sequence[date]) -> tuple[list[int], list[int], list[int]]:
    """Indices of jobs-report days, inflation-report days and rate-decision days."""
    jobs: list[int] = []
    inflation: list[int] = []
    decisions: list[int] = []
    by_month: dict[tuple[int, int], list[int]] = {}
    for i, day in enumerate(days):
        by_month.setdefault((day.year, day.month), []).append(i)
    for (_, month), indices in by_month.items():
        fridays = [i for i in indices if days[i].weekday() == 4]
        if fridays:
            jobs.append(fridays[0])
        mid = [i for i in indices if days[i].day >= 11 and i not in jobs]
        if mid:
            inflation.append(mid[0])
        if month in (1, 3, 5, 6, 7, 9, 10, 12):
            wednesdays = [i for i in indices if days[i].day >= 15 and days[i].weekday() == 2]
            late = [i for i in indices if days[i].day >= 15]
            if wednesdays or late:
                decisions.append((wednesdays or late)[0])
    return jobs, inflation, decisions


def _draw_events(
    rng: np.random.Generator, days: Sequence[date], model: FactorModel
) -> tuple[list[MarketEvent], np.ndarray, np.ndarray]:
    """Scheduled and random events: the list, factor jumps (T, K) and company jumps (T, N)."""
    n_days, n_factors, n_assets = len(days), len(factors.FACTORS), len(model.assets)
    factor_jumps = np.zeros((n_days, n_factors))
    company_jumps = np.zeros((n_days, n_assets))
    events: list[MarketEvent] = []
    per_day = 1.0 / factors.TRADING_DAYS_PER_YEAR

    # Macro releases move the market factor.
    jobs, inflation, decisions = _monthly_days(days)
    releases = sorted(
        [(i, "jobs report") for i in jobs] + [(i, "inflation report") for i in inflation]
    )
    sizes = _lognormal_sizes(rng, (len(releases),))
    signs = _signs(rng.random(len(releases)), 0.55)
    market_symbols = model.factor_symbols[0]
    for (i, release), size, sign in zip(releases, sizes, signs, strict=True):
        jump = float(sign * size * factors.MACRO_SIZE * model.factor_total_vol[0])
        factor_jumps[i, 0] += jump
        events.append(
            MarketEvent(days[i], EventKind.MACRO, EventScope.MARKET, factors.MARKET,
                        market_symbols, int(sign), jump, release)
        )  # fmt: skip

    # Rate decisions move yields; bond funds move the other way.
    outcome_draws = rng.random(len(decisions))
    move_draws = rng.random(len(decisions))
    hold_draws = rng.standard_normal(len(decisions))
    low, high = factors.RATE_MOVE_RANGE
    p_hike = factors.RATE_DECISION_PROBABILITIES["hike"]
    p_cut = factors.RATE_DECISION_PROBABILITIES["cut"]
    rate_symbols = model.factor_symbols[-1]
    for i, outcome, move, hold in zip(
        decisions, outcome_draws, move_draws, hold_draws, strict=True
    ):
        if outcome < p_hike:
            detail, change = "hike", low + (high - low) * move
        elif outcome < p_hike + p_cut:
            detail, change = "cut", -(low + (high - low) * move)
        else:
            detail, change = "hold", factors.RATE_HOLD_SD * hold
        factor_jumps[i, -1] += change
        direction = 0 if abs(change) < 0.00015 else -int(np.sign(change))
        events.append(
            MarketEvent(days[i], EventKind.RATE_DECISION, EventScope.RATES, factors.RATES,
                        rate_symbols, direction, float(change), detail)
        )  # fmt: skip

    # Sector, region and bond-market factor news.
    n_sectors = n_factors - 2
    happens = rng.random((n_days, n_sectors)) < factors.SECTOR_EVENTS_PER_YEAR * per_day
    sizes = _lognormal_sizes(rng, (n_days, n_sectors))
    signs = _signs(rng.random((n_days, n_sectors)), 0.5)
    jumps = np.where(
        happens, signs * sizes * factors.SECTOR_EVENT_SIZE * model.factor_total_vol[1:-1], 0.0
    )
    factor_jumps[:, 1:-1] += jumps
    for i, s in zip(*np.nonzero(happens), strict=True):
        k = int(s) + 1
        if model.factor_symbols[k]:
            events.append(
                MarketEvent(days[i], EventKind.SECTOR, EventScope.SECTOR, factors.FACTORS[k],
                            model.factor_symbols[k], int(signs[i, s]), float(jumps[i, s]))
            )  # fmt: skip

    # Company events: quarterly earnings, other news, and announcements that move nothing.
    stocks = model.stock_index
    n_stocks = len(stocks)
    idio = model.idio_annual[stocks]
    offsets = rng.integers(0, EARNINGS_SPACING, n_stocks)
    earnings = np.zeros((n_days, n_stocks), dtype=bool)
    for j, offset in enumerate(offsets):
        earnings[int(offset) :: EARNINGS_SPACING, j] = True
    earnings_sizes = _lognormal_sizes(rng, (n_days, n_stocks)) * factors.EARNINGS_SIZE * idio
    earnings_signs = _signs(rng.random((n_days, n_stocks)), 0.55)
    kinds = [EventKind(name) for name in factors.COMPANY_NEWS_KINDS]
    weights = np.array([w for w, _ in factors.COMPANY_NEWS_KINDS.values()])
    multipliers = np.array([m for _, m in factors.COMPANY_NEWS_KINDS.values()])
    news_happens = rng.random((n_days, n_stocks)) < factors.COMPANY_NEWS_PER_YEAR * per_day
    news_kind = rng.choice(len(kinds), size=(n_days, n_stocks), p=weights / weights.sum())
    news_sizes = (
        _lognormal_sizes(rng, (n_days, n_stocks))
        * factors.COMPANY_NEWS_SIZE
        * multipliers[news_kind]
        * idio
    )
    news_signs = _signs(rng.random((n_days, n_stocks)), 0.5)
    routine = rng.random((n_days, n_stocks)) < factors.ROUTINE_NEWS_PER_YEAR * per_day
    earnings_jumps = np.where(earnings, earnings_signs * earnings_sizes, 0.0)
    news_jumps = np.where(news_happens, news_signs * news_sizes, 0.0)
    company_jumps[:, stocks] = earnings_jumps + news_jumps
    symbols = [model.assets[int(i)].symbol for i in stocks]
    for i, j in zip(*np.nonzero(earnings), strict=True):
        events.append(
            MarketEvent(days[i], EventKind.EARNINGS, EventScope.COMPANY, symbols[j],
                        (symbols[j],), int(earnings_signs[i, j]), float(earnings_jumps[i, j]))
        )  # fmt: skip
    for i, j in zip(*np.nonzero(news_happens), strict=True):
        events.append(
            MarketEvent(days[i], kinds[int(news_kind[i, j])], EventScope.COMPANY, symbols[j],
                        (symbols[j],), int(news_signs[i, j]), float(news_jumps[i, j]))
        )  # fmt: skip
    for i, j in zip(*np.nonzero(routine), strict=True):
        events.append(
            MarketEvent(days[i], EventKind.ROUTINE, EventScope.COMPANY, symbols[j],
                        (symbols[j],), 0, 0.0)
        )  # fmt: skip
    return events, factor_jumps, company_jumps


def _stress_events(
    days: Sequence[date], period: StressPeriod, market: np.ndarray, symbols: tuple[str, ...]
) -> list[MarketEvent]:
    """Headline days of the sell-off: its three worst days and the best day of the rebound."""
    crash = market[period.start : period.trough]
    worst = period.start + np.argsort(crash, kind="stable")[:3]
    rebound_end = min(period.trough + 20, len(market))
    events = [
        MarketEvent(days[int(i)], EventKind.MARKET_STRESS, EventScope.MARKET, factors.MARKET,
                    symbols, -1, float(market[int(i)]), "sell-off")
        for i in sorted(worst)
        if market[int(i)] < 0
    ]  # fmt: skip
    if rebound_end > period.trough:
        best = period.trough + int(np.argmax(market[period.trough : rebound_end]))
        if market[best] > 0:
            events.append(
                MarketEvent(days[best], EventKind.MARKET_STRESS, EventScope.MARKET,
                            factors.MARKET, symbols, 1, float(market[best]), "rebound")
            )  # fmt: skip
    return events


# --------------------------------------------------------------------------------------------
# Bars


def bars_from_returns(
    rng: np.random.Generator,
    model: FactorModel,
    *,
    returns: np.ndarray,
    jumps: np.ndarray,
    scale: np.ndarray,
    previous_close: np.ndarray,
) -> dict[str, np.ndarray]:
    """Open, high, low, close (rounded to cents) and volume for daily log ``returns``.

    Parameters
    ----------
    returns
        (T, N) daily log returns.
    jumps
        (T, N) part of ``returns`` that comes from events (it gaps at the open).
    scale
        (T,) volatility multiplier of each day (wider ranges on volatile days).
    previous_close
        (N,) close before the first day.

    Returns
    -------
    dict
        ``open``, ``high``, ``low``, ``close`` as (T, N) floats, ``volume`` as (T, N) int64.
    """
    n_days, n_assets = returns.shape
    gap_noise = rng.standard_normal((n_days, n_assets))
    extensions = np.abs(rng.standard_normal((2, n_days, n_assets)))
    volume_noise = rng.standard_normal((n_days, n_assets))
    day_vol = scale[:, None] * model.daily_vol
    log_close = np.log(previous_close) + np.cumsum(returns, axis=0)
    log_previous = np.vstack([np.log(previous_close)[None, :], log_close[:-1]])
    gap = GAP_SHARE * (returns - jumps) + JUMP_GAP_SHARE * jumps + 0.1 * day_vol * gap_noise
    open_ = np.exp(log_previous + gap)
    close = np.exp(log_close)
    high = np.maximum(open_, close) * np.exp(RANGE_SCALE * day_vol * extensions[0])
    low = np.minimum(open_, close) * np.exp(-RANGE_SCALE * day_vol * extensions[1])
    open_, close = np.round(open_, 2), np.round(close, 2)
    high = np.maximum(np.round(high, 2), np.maximum(open_, close))
    low = np.maximum(np.minimum(np.round(low, 2), np.minimum(open_, close)), 0.01)
    open_, close = np.maximum(open_, 0.01), np.maximum(close, 0.01)
    high = np.maximum(high, np.maximum(open_, close))
    # More volume on big-move and event days; average near the asset's daily volume.
    activity = 0.45 + 0.55 * np.abs(returns) / (0.8 * model.daily_vol)
    activity = np.where(jumps != 0.0, 1.5 * activity, activity)
    adv = np.array([a.avg_daily_volume for a in model.assets], dtype=float)
    volume = adv * np.exp(0.3 * volume_noise - 0.045) * np.clip(activity, 0.2, 6.0)
    return {
        "open": open_,
        "high": high,
        "low": low,
        "close": close,
        "volume": np.maximum(np.round(volume), 100).astype(np.int64),
    }


@dataclass(frozen=True, eq=False)
class MarketHistory:
    """A simulated history: long-format bars, the events behind the moves and their news.

    ``bars`` has columns ``date`` (:class:`datetime.date`), ``symbol``, ``open``, ``high``,
    ``low``, ``close`` (floats rounded to cents) and ``volume`` (int), sorted by date then
    symbol. ``volatility_state`` is the last day's variance multiplier, from which a
    :class:`~advisor.demo.ticker.MarketTicker` continues.
    """

    seed: int
    assets: tuple[DemoAsset, ...]
    days: tuple[date, ...]
    bars: pd.DataFrame
    events: tuple[MarketEvent, ...]
    news: tuple[NewsEvent, ...]
    volatility_state: float
    last_market_shock: float
    stress_period: tuple[date, date, date] | None
    """First day of the sell-off, first day after it, end of the recovery; None when absent."""

    @property
    def start(self) -> date:
        return self.days[0]

    @property
    def end(self) -> date:
        return self.days[-1]

    def closes(self) -> pd.DataFrame:
        """Closes as a (date x symbol) frame."""
        return self.bars.pivot(index="date", columns="symbol", values="close")

    def last_bars(self) -> dict[str, DailyBar]:
        """The final bar of every symbol."""
        last = self.bars[self.bars["date"] == self.end]
        return {
            row.symbol: DailyBar(
                day=row.date,
                symbol=row.symbol,
                open=float(row.open),
                high=float(row.high),
                low=float(row.low),
                close=float(row.close),
                volume=int(row.volume),
            )
            for row in last.itertuples(index=False)
        }


def default_start(end: date, years: int = DEFAULT_YEARS) -> date:
    """The day ``years`` years before ``end`` (28 February for a 29 February ``end``)."""
    try:
        return end.replace(year=end.year - years)
    except ValueError:
        return end.replace(year=end.year - years, day=28)


def simulate_history(
    *,
    seed: int,
    end: date,
    start: date | None = None,
    assets: Sequence[DemoAsset] = DEMO_UNIVERSE,
    stress: bool = True,
) -> MarketHistory:
    """Simulate daily bars, events and news for ``assets`` over the trading days to ``end``.

    Parameters
    ----------
    seed
        The same seed gives byte-identical output; different seeds give different markets.
    end
        Last calendar day of the history (the last bar is the last trading day up to it).
    start
        First calendar day; six years before ``end`` by default.
    assets
        The universe, :data:`~advisor.demo.universe.DEMO_UNIVERSE` by default.
    stress
        Whether to include the sell-off; it needs at least 400 trading days.

    Returns
    -------
    MarketHistory
        T trading days times N assets of bars, with their events and news.
    """
    if start is None:
        start = default_start(end)
    days = trading_days(start, end)
    n_days = len(days)
    if n_days < 2:
        raise InvalidInput(
            f"the history from {start} to {end} has {n_days} trading days; it needs at least 2",
            field="start",
        )
    model = FactorModel.of(assets)
    market_seed, news_seed = np.random.SeedSequence(seed).spawn(2)
    rng = np.random.default_rng(market_seed)

    shocks = model.factor_shocks(rng, n_days)
    idio_shocks = student_t(rng, (n_days, model.n_identities))
    tracking = TRACKING_NOISE * rng.standard_normal((n_days, len(model.assets)))
    variance = garch_path(shocks[:, 0])
    scale = np.sqrt(variance)
    period = None
    if stress and n_days >= MIN_DAYS_FOR_STRESS:
        period = _plan_stress(rng, np.cumsum(scale * shocks[:, 0]))
    if period is not None:
        scale = np.minimum(scale * _stress_scale(period, n_days), MAX_VOL_MULTIPLIER)
    normaliser = math.sqrt(float(np.mean(scale**2)))
    scale = scale / normaliser

    factor_returns, returns = model.diffusive_returns(
        scale=scale, factor_shocks=shocks, idio_shocks=idio_shocks, tracking=tracking
    )
    events, factor_jumps, company_jumps = _draw_events(rng, days, model)
    before_stress = factor_returns.copy()
    factor_returns += factor_jumps
    if period is not None:
        broad = [i for i, a in enumerate(model.assets) if a.symbol in model.factor_symbols[0]]
        market_drift = float(np.mean(model.drift[broad])) if broad else 0.0
        _apply_stress(factor_returns, period, market_drift)
        events.extend(_stress_events(days, period, factor_returns[:, 0], model.factor_symbols[0]))
    returns += (factor_returns - before_stress) @ model.loadings.T + company_jumps + model.drift
    jumps = factor_jumps @ model.loadings.T + company_jumps

    previous = np.array([a.base_price for a in model.assets])
    bars = bars_from_returns(
        rng, model, returns=returns, jumps=jumps, scale=scale, previous_close=previous
    )
    events.sort(key=lambda e: (e.day, e.scope.value, e.kind.value, e.subject, e.impact))
    news = news_for_events(events, assets=model.assets, seed=news_seed)
    return MarketHistory(
        seed=seed,
        assets=model.assets,
        days=tuple(days),
        bars=_long_frame(days, model.symbols, bars),
        events=tuple(events),
        news=news,
        volatility_state=float(scale[-1] ** 2),
        last_market_shock=float(shocks[-1, 0]),
        stress_period=None
        if period is None
        else (days[period.start], days[period.trough], days[period.recovered - 1]),
    )


def _long_frame(
    days: Sequence[date], symbols: Sequence[str], bars: dict[str, np.ndarray]
) -> pd.DataFrame:
    """Long-format bars sorted by date then symbol."""
    order = np.argsort(np.array(symbols), kind="stable")
    n_days, n_assets = len(days), len(symbols)
    frame = pd.DataFrame(
        {
            "date": np.repeat(np.array(days, dtype=object), n_assets),
            "symbol": np.tile(np.array(symbols, dtype=object)[order], n_days),
            **{name: values[:, order].reshape(-1) for name, values in bars.items()},
        }
    )
    return frame
