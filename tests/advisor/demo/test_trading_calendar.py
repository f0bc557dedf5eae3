from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from advisor.demo.trading_calendar import (
    is_trading_day,
    market_holidays,
    next_trading_day,
    previous_trading_day,
    session_date,
    session_progress,
    trading_days,
)
from portfolios.core.errors import InvalidInput


def test_2024_holidays_are_the_nyse_ones():
    assert market_holidays(2024) == {
        date(2024, 1, 1),
        date(2024, 1, 15),
        date(2024, 2, 19),
        date(2024, 3, 29),
        date(2024, 5, 27),
        date(2024, 6, 19),
        date(2024, 7, 4),
        date(2024, 9, 2),
        date(2024, 11, 28),
        date(2024, 12, 25),
    }


def test_observed_holidays():
    assert date(2021, 7, 5) in market_holidays(2021)  # 4 July 2021 was a Sunday
    assert date(2022, 12, 26) in market_holidays(2022)  # Christmas 2022 was a Sunday
    assert is_trading_day(date(2021, 12, 31))  # no Friday holiday for a Saturday New Year
    assert date(2021, 6, 18) not in market_holidays(2021)  # Juneteenth only from 2022


def test_2024_has_252_trading_days():
    assert len(trading_days(date(2024, 1, 1), date(2024, 12, 31))) == 252


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2040, 1, 1)), st.integers(0, 60))
def test_trading_days_are_sorted_weekdays(start, span):
    days = trading_days(start, start + timedelta(days=span))
    assert days == sorted(set(days))
    assert all(day.weekday() < 5 and is_trading_day(day) for day in days)
    if days:
        assert previous_trading_day(next_trading_day(days[0])) == days[0]


def test_end_before_start_is_refused():
    with pytest.raises(InvalidInput, match="before start"):
        trading_days(date(2024, 2, 1), date(2024, 1, 1))


def test_session_date_maps_weekends_to_friday():
    saturday = datetime(2024, 6, 15, 15, 0, tzinfo=UTC)
    assert session_date(saturday) == date(2024, 6, 14)
    # 01:00 UTC on Tuesday is still Monday evening in New York
    assert session_date(datetime(2024, 6, 18, 1, 0, tzinfo=UTC)) == date(2024, 6, 17)


def test_session_progress():
    new_york = ZoneInfo("America/New_York")
    day = date(2024, 6, 17)
    assert session_progress(datetime(2024, 6, 17, 9, 0, tzinfo=new_york), day) == 0.0
    assert session_progress(datetime(2024, 6, 17, 12, 45, tzinfo=new_york), day) == 0.5
    assert session_progress(datetime(2024, 6, 17, 17, 0, tzinfo=new_york), day) == 1.0


def test_naive_datetimes_are_refused():
    with pytest.raises(InvalidInput, match="aware"):
        session_date(datetime(2024, 6, 17, 12, 0))  # noqa: DTZ001 - the point of the test
