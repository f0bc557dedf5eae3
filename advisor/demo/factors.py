"""The factor structure behind the demo market: its factors, their volatilities and event rates.

Every simulated daily log return is

    r = drift + beta * market + sum_k loading_k * sector_k - duration * d(yield) + idiosyncratic

plus the jumps of simulated events. Factor volatilities here are *total* annual volatilities:
the simulator takes the variance that scheduled and random events contribute out of the
diffusive part, so that an asset's realised volatility matches the ``annual_vol`` that
:mod:`advisor.demo.universe` computes from the same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from portfolios.core.errors import InvalidInput

TRADING_DAYS_PER_YEAR = 252

MARKET = "market"
RATES = "rates"

MARKET_VOL = 0.165
"""Annual volatility of the US equity market factor (a broad index fund has beta 1)."""

RATES_VOL = 0.0075
"""Annual standard deviation of yield changes (75 basis points a year)."""

MARKET_RATES_CORRELATION = 0.25
"""Yields tend to rise on good equity days and fall in sell-offs (flight to quality)."""

SECTOR_FACTOR_VOLS: Mapping[str, float] = {
    "technology": 0.14,
    "health_care": 0.10,
    "financials": 0.12,
    "energy": 0.22,
    "consumer_staples": 0.08,
    "consumer_discretionary": 0.11,
    "utilities": 0.12,
    "industrials": 0.08,
    "real_estate": 0.12,
    "intl_developed": 0.09,
    "emerging_markets": 0.16,
    "commodities": 0.15,
    "credit": 0.025,
    "municipal": 0.02,
    "inflation": 0.02,
}
"""Annual volatility of each sector, region or bond-market factor (orthogonal to the market)."""

FACTORS: tuple[str, ...] = (MARKET, *SECTOR_FACTOR_VOLS, RATES)
"""Factor order in loading vectors and covariance matrices."""

# Scheduled and random events: how often they happen and how big their jumps are.
JUMP_LOG_SPREAD = 0.4
"""Event sizes are lognormal around their base size with this log standard deviation."""
JUMP_SECOND_MOMENT = math.exp(2 * JUMP_LOG_SPREAD**2)
"""E[size^2] / base^2 for a lognormal size with unit median."""

MACRO_RELEASES_PER_YEAR = 24
MACRO_SIZE = 1.0
"""A macro release moves the market factor by about one daily standard deviation."""

SECTOR_EVENTS_PER_YEAR = 6
SECTOR_EVENT_SIZE = 2.5
"""A sector event moves its factor by about 2.5 daily standard deviations."""

RATE_DECISIONS_PER_YEAR = 8
RATE_MOVE_RANGE = (0.0004, 0.0010)
"""A hike or a cut moves yields by 4 to 10 basis points (uniform)."""
RATE_HOLD_SD = 0.0003
RATE_DECISION_PROBABILITIES = {"hike": 0.25, "cut": 0.25, "hold": 0.5}

EARNINGS_PER_YEAR = 4
EARNINGS_SIZE = 0.18
"""An earnings jump is about 18% of the stock's annual idiosyncratic volatility."""

COMPANY_NEWS_PER_YEAR = 5
COMPANY_NEWS_SIZE = 0.10
COMPANY_NEWS_KINDS: Mapping[str, tuple[float, float]] = {
    # kind: (share of company news, size multiplier)
    "guidance": (0.18, 1.3),
    "analyst_rating": (0.30, 0.8),
    "product": (0.15, 0.9),
    "legal": (0.12, 1.0),
    "merger": (0.10, 1.6),
    "dividend": (0.15, 0.7),
}
ROUTINE_NEWS_PER_YEAR = 4
"""Company announcements that do not move the price (conferences, appointments...)."""


def factor_daily_vols() -> np.ndarray:
    """Total daily volatility of every factor, shape ``(len(FACTORS),)``."""
    annual = [MARKET_VOL, *SECTOR_FACTOR_VOLS.values(), RATES_VOL]
    return np.asarray(annual) / math.sqrt(TRADING_DAYS_PER_YEAR)


def factor_correlation() -> np.ndarray:
    """Factor correlation matrix, shape ``(K, K)``: only market and rates are correlated."""
    k = len(FACTORS)
    corr = np.eye(k)
    corr[0, k - 1] = corr[k - 1, 0] = MARKET_RATES_CORRELATION
    return corr


def factor_covariance() -> np.ndarray:
    """Annual factor covariance matrix, shape ``(K, K)``, in :data:`FACTORS` order."""
    vols = factor_daily_vols() * math.sqrt(TRADING_DAYS_PER_YEAR)
    return factor_correlation() * np.outer(vols, vols)


def rate_decision_jump_variance() -> float:
    """Expected squared yield jump of one rate decision."""
    low, high = RATE_MOVE_RANGE
    moved = (low**2 + low * high + high**2) / 3  # E[U^2] for U uniform on [low, high]
    probs = RATE_DECISION_PROBABILITIES
    return (probs["hike"] + probs["cut"]) * moved + probs["hold"] * RATE_HOLD_SD**2


def factor_event_variance_share() -> np.ndarray:
    """Share of each factor's variance that comes from event jumps, shape ``(K,)``."""
    share = np.zeros(len(FACTORS))
    per_day = 1.0 / TRADING_DAYS_PER_YEAR
    share[0] = MACRO_RELEASES_PER_YEAR * per_day * MACRO_SIZE**2 * JUMP_SECOND_MOMENT
    sector_share = SECTOR_EVENTS_PER_YEAR * per_day * SECTOR_EVENT_SIZE**2 * JUMP_SECOND_MOMENT
    share[1:-1] = sector_share
    share[-1] = RATE_DECISIONS_PER_YEAR * rate_decision_jump_variance() / RATES_VOL**2
    return share


def company_news_second_moment() -> float:
    """E[multiplier^2] over the kinds of company news, weighted by how often each happens."""
    return sum(weight * size**2 for weight, size in COMPANY_NEWS_KINDS.values())


def company_event_variance(idio_vol: float) -> float:
    """Annual variance that earnings and company news add to a stock with ``idio_vol``."""
    earnings = EARNINGS_PER_YEAR * EARNINGS_SIZE**2
    news = COMPANY_NEWS_PER_YEAR * COMPANY_NEWS_SIZE**2 * company_news_second_moment()
    return (earnings + news) * JUMP_SECOND_MOMENT * idio_vol**2


def loading_vector(
    *, beta: float, sector_loadings: Sequence[tuple[str, float]], rate_duration: float
) -> np.ndarray:
    """An asset's loadings on :data:`FACTORS`, shape ``(K,)``.

    The rates factor is a yield change, so its loading is minus the duration.
    """
    loadings = np.zeros(len(FACTORS))
    loadings[0] = beta
    index = {name: i for i, name in enumerate(FACTORS)}
    for name, value in sector_loadings:
        if name not in SECTOR_FACTOR_VOLS:
            raise InvalidInput(f"unknown sector factor {name!r}", field="sector_loadings")
        loadings[index[name]] += value
    loadings[-1] = -rate_duration
    return loadings


def systematic_variance(
    *, beta: float, sector_loadings: Sequence[tuple[str, float]], rate_duration: float
) -> float:
    """Annual variance explained by the factors for the given loadings."""
    loadings = loading_vector(
        beta=beta, sector_loadings=sector_loadings, rate_duration=rate_duration
    )
    return float(loadings @ factor_covariance() @ loadings)
