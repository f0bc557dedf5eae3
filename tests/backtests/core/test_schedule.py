"""The simulated clock: which days decide what, and when."""

from datetime import UTC, date, datetime

import pytest

from backtests.core.config import Frequency, Schedule, strategy_named
from backtests.core.markets import business_days
from backtests.core.schedule import (
    DECISION_TIME,
    EXECUTION_TIME,
    first_days,
    market_moment,
    plan_days,
)
from portfolios.core.errors import InvalidInput

DAYS = business_days(date(2021, 12, 27), date(2022, 7, 15))


def test_first_trading_day_of_each_period():
    assert min(first_days(DAYS, Frequency.MONTHLY)) == date(2021, 12, 27)
    monthly = sorted(first_days(DAYS, Frequency.MONTHLY))
    assert monthly[:3] == [date(2021, 12, 27), date(2022, 1, 3), date(2022, 2, 1)]
    quarterly = sorted(first_days(DAYS, Frequency.QUARTERLY))
    assert quarterly == [date(2021, 12, 27), date(2022, 1, 3), date(2022, 4, 1), date(2022, 7, 1)]
    weekly = sorted(first_days(DAYS, Frequency.WEEKLY))
    assert all(d.weekday() == 0 for d in weekly)  # weekdays only: Mondays start each week
    assert len(weekly) == len({d.isocalendar()[:2] for d in DAYS})
    assert first_days(DAYS, Frequency.ONCE) == {DAYS[0]}
    assert first_days(DAYS, Frequency.DAILY) == set(DAYS)


def test_plan_days_invests_on_day_one_and_never_harvests_then():
    plans = plan_days(DAYS, strategy_named("drift_harvest"))
    assert plans[0].refresh and plans[0].drift and not plans[0].harvest
    assert sum(p.harvest for p in plans) == len(first_days(DAYS, Frequency.WEEKLY)) - 1
    hold = plan_days(DAYS, strategy_named("buy_and_hold"))
    assert [p.day for p in hold if p.decides] == [DAYS[0]]
    custom = strategy_named("drift").replace(
        schedule=Schedule(refresh=Frequency.YEARLY, drift=Frequency.QUARTERLY)
    )
    assert sum(p.drift for p in plan_days(DAYS, custom)) == 4


def test_plan_days_refuses_unsorted_days():
    with pytest.raises(InvalidInput):
        plan_days(list(reversed(DAYS)), strategy_named("drift"))


def test_decisions_follow_the_close_and_execution_precedes_the_next_close():
    winter = market_moment(date(2022, 1, 10), DECISION_TIME)
    summer = market_moment(date(2022, 7, 11), DECISION_TIME)
    assert winter == datetime(2022, 1, 10, 21, 30, tzinfo=UTC)
    assert summer == datetime(2022, 7, 11, 20, 30, tzinfo=UTC)
    execution = market_moment(date(2022, 7, 12), EXECUTION_TIME)
    assert execution == datetime(2022, 7, 12, 19, 50, tzinfo=UTC)
    # Both stay on the same UTC date as the New York trading day, which the ledger books.
    assert winter.date() == date(2022, 1, 10) and execution.date() == date(2022, 7, 12)
