"""The demo market's trading calendar: US weekdays less the main NYSE holidays.

The simulated market keeps New York hours (regular session 09:30-16:00, America/New_York) so
that its bars and headlines line up with what a user expects from a US market. Every datetime
that leaves this module is aware and in UTC.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from portfolios.core.errors import InvalidInput

NEW_YORK = ZoneInfo("America/New_York")
SESSION_OPEN = time(9, 30)
SESSION_CLOSE = time(16, 0)
SESSION_SECONDS = 6.5 * 3600.0


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    """The ``n``-th ``weekday`` (Monday = 0) of a month; ``n = -1`` is the last one."""
    if n > 0:
        first = date(year, month, 1)
        offset = (weekday - first.weekday()) % 7
        return first + timedelta(days=offset + 7 * (n - 1))
    following = date(year + (month == 12), month % 12 + 1, 1)
    last = following - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def _easter(year: int) -> date:
    """Western Easter Sunday (the anonymous Gregorian algorithm)."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    ell = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * ell) // 451
    month, day = divmod(h + ell - 7 * m + 114, 31)
    return date(year, month, day + 1)


def _observed(day: date) -> date:
    """A fixed-date holiday moves to Friday from a Saturday and to Monday from a Sunday."""
    if day.weekday() == 5:
        return day - timedelta(days=1)
    if day.weekday() == 6:
        return day + timedelta(days=1)
    return day


@lru_cache(maxsize=256)
def market_holidays(year: int) -> frozenset[date]:
    """The full-day NYSE holidays of ``year`` (early closes are ignored)."""
    holidays = {
        _nth_weekday(year, 1, 0, 3),  # Martin Luther King Jr. Day
        _nth_weekday(year, 2, 0, 3),  # Washington's Birthday
        _easter(year) - timedelta(days=2),  # Good Friday
        _nth_weekday(year, 5, 0, -1),  # Memorial Day
        _observed(date(year, 7, 4)),  # Independence Day
        _nth_weekday(year, 9, 0, 1),  # Labor Day
        _nth_weekday(year, 11, 3, 4),  # Thanksgiving
        _observed(date(year, 12, 25)),  # Christmas
    }
    new_year = date(year, 1, 1)
    if new_year.weekday() != 5:  # NYSE does not close on the Friday before a Saturday New Year
        holidays.add(_observed(new_year))
    if year >= 2022:
        holidays.add(_observed(date(year, 6, 19)))  # Juneteenth
    return frozenset(holidays)


def is_trading_day(day: date) -> bool:
    """Whether the demo market has a session on ``day``."""
    return day.weekday() < 5 and day not in market_holidays(day.year)


def trading_days(start: date, end: date) -> list[date]:
    """Every trading day from ``start`` to ``end``, both included, in order."""
    if end < start:
        raise InvalidInput(f"end {end} is before start {start}", field="end")
    days: list[date] = []
    day = start
    one = timedelta(days=1)
    while day <= end:
        if is_trading_day(day):
            days.append(day)
        day += one
    return days


def previous_trading_day(day: date) -> date:
    """The last trading day strictly before ``day``."""
    day -= timedelta(days=1)
    while not is_trading_day(day):
        day -= timedelta(days=1)
    return day


def next_trading_day(day: date) -> date:
    """The first trading day strictly after ``day``."""
    day += timedelta(days=1)
    while not is_trading_day(day):
        day += timedelta(days=1)
    return day


def require_aware(moment: datetime, *, name: str = "now") -> datetime:
    """Return ``moment`` in UTC, or raise :class:`InvalidInput` when it is naive."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidInput(f"{name} must be an aware datetime, got naive {moment!r}", field=name)
    return moment.astimezone(UTC)


def session_date(moment: datetime) -> date:
    """The trading day whose bar a price at ``moment`` belongs to.

    That is the New York calendar date of ``moment`` when it is a trading day, else the last
    trading day before it (the demo keeps quoting over weekends and holidays, against the bar of
    the last session).
    """
    local_day = require_aware(moment).astimezone(NEW_YORK).date()
    return local_day if is_trading_day(local_day) else previous_trading_day(local_day)


def new_york_moment(day: date, at: time) -> datetime:
    """The aware UTC datetime of wall-clock time ``at`` in New York on ``day``."""
    return datetime.combine(day, at, tzinfo=NEW_YORK).astimezone(UTC)


def session_progress(moment: datetime, day: date) -> float:
    """How far through ``day``'s regular session ``moment`` is: 0 before the open, 1 after."""
    opened = new_york_moment(day, SESSION_OPEN)
    elapsed = (require_aware(moment) - opened).total_seconds()
    return min(max(elapsed / SESSION_SECONDS, 0.0), 1.0)
