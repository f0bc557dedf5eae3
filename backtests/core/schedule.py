"""The simulated clock: which trading days carry which decision, and when each one happens.

Convention (stated on every report): a decision on trading day *t* is taken after that day's
close (16:30 New York) with data up to and including *t*; its approved trades execute on the
next trading day, at 15:50 New York, against that day's bar on the simulated exchange (a
market-on-close order with spread, impact and fees). Nothing decided on *t* can trade at a price
it has seen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pandas as pd

from backtests.core.config import Frequency, Rebalancing, StrategyConfig
from portfolios.core.errors import InvalidInput

NEW_YORK = ZoneInfo("America/New_York")
#: When decisions are taken: after the close, with the day's bar known.
DECISION_TIME = time(16, 30)
#: When the signal pipeline runs before a refresh (after the close, before the decisions).
SIGNALS_TIME = time(16, 15)
#: The session's close: a daily bar is stamped with it.
SESSION_CLOSE = time(16, 0)
#: When approved trades execute: inside the next session, before its close.
EXECUTION_TIME = time(15, 50)


def market_moment(day: date, at: time) -> datetime:
    """``day`` at ``at`` New York time, as an aware UTC datetime."""
    return datetime.combine(day, at, tzinfo=NEW_YORK).astimezone(UTC)


def first_days(days: Sequence[date], frequency: Frequency) -> set[date]:
    """The first trading day of each period of ``frequency`` among ``days`` (sorted, unique).

    ``once`` gives the first day only; ``daily`` every day.
    """
    if not days:
        return set()
    frequency = Frequency(frequency)
    if frequency is Frequency.ONCE:
        return {days[0]}
    if frequency is Frequency.DAILY:
        return set(days)
    index = pd.DatetimeIndex(pd.to_datetime(list(days)))
    if frequency is Frequency.WEEKLY:
        iso = index.isocalendar()
        keys = list(zip(iso["year"], iso["week"], strict=True))
    elif frequency is Frequency.MONTHLY:
        keys = list(zip(index.year, index.month, strict=True))
    elif frequency is Frequency.QUARTERLY:
        keys = list(zip(index.year, index.quarter, strict=True))
    else:
        keys = [(y, 0) for y in index.year]
    chosen: set[date] = set()
    previous: object = None
    for day, key in zip(days, keys, strict=True):
        if key != previous:
            chosen.add(day)
            previous = key
    return chosen


@dataclass(frozen=True)
class DayPlan:
    """What the backtest does on one trading day."""

    day: date
    refresh: bool = False
    drift: bool = False
    harvest: bool = False

    @property
    def decides(self) -> bool:
        return self.refresh or self.drift or self.harvest


def plan_days(days: Sequence[date], strategy: StrategyConfig) -> list[DayPlan]:
    """The decisions of each trading day of the window (days sorted, unique)."""
    if list(days) != sorted(set(days)):
        raise InvalidInput("trading days must be sorted and unique", field="days")
    if not days:
        raise InvalidInput("the window has no trading days", field="days")
    schedule = strategy.schedule
    refresh = first_days(days, schedule.refresh)
    drift = (
        first_days(days, schedule.drift) if strategy.rebalancing is Rebalancing.DRIFT else {days[0]}
    )
    harvest = first_days(days, schedule.harvest) if strategy.harvesting else set()
    # Day one always sets the target and invests the deposit.
    refresh.add(days[0])
    drift.add(days[0])
    return [
        DayPlan(
            day=d, refresh=d in refresh, drift=d in drift, harvest=d in harvest and d != days[0]
        )
        for d in days
    ]
