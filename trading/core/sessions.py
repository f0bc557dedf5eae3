"""Exchange trading sessions in New York time.

US equity venues keep their hours in America/New_York; a session is a calendar day with an open and
a close in that zone (9:30 to 16:00 normally, 13:00 on early-close days). The exchange calendar
itself (holidays, early closes) is data that callers pass in; this module only turns a session into
aware instants, so comparisons with a UTC "now" are right on both sides of a DST change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from portfolios.core.errors import InvalidInput
from trading.core.orders import require_aware

NEW_YORK = ZoneInfo("America/New_York")
REGULAR_OPEN = time(9, 30)
REGULAR_CLOSE = time(16, 0)


@dataclass(frozen=True)
class TradingSession:
    """One day's regular session of a US equity venue.

    Attributes
    ----------
    day
        The session's calendar date in New York.
    open_time, close_time
        Local New York wall-clock times (naive ``time`` values, interpreted in America/New_York).
    """

    day: date
    open_time: time = REGULAR_OPEN
    close_time: time = REGULAR_CLOSE

    def __post_init__(self) -> None:
        if self.open_time.tzinfo is not None or self.close_time.tzinfo is not None:
            raise InvalidInput(
                "session open_time and close_time are New York wall-clock times; pass them "
                "without tzinfo",
                field="open_time",
            )
        if self.open_time >= self.close_time:
            raise InvalidInput(
                f"session on {self.day} opens at {self.open_time} but closes at "
                f"{self.close_time}; the open must come first",
                field="close_time",
            )

    @property
    def opens_at(self) -> datetime:
        """The open as an aware datetime in America/New_York."""
        return datetime.combine(self.day, self.open_time, tzinfo=NEW_YORK)

    @property
    def closes_at(self) -> datetime:
        """The close as an aware datetime in America/New_York."""
        return datetime.combine(self.day, self.close_time, tzinfo=NEW_YORK)

    def contains(self, moment: datetime) -> bool:
        """Whether ``moment`` (aware, any zone) falls in [open, close)."""
        require_aware(moment, name="moment")
        return self.opens_at <= moment < self.closes_at


def market_date(moment: datetime) -> date:
    """The trade date of ``moment`` (aware): its New York calendar date. A fill at 20:30 New York
    time in the extended session is 00:30 UTC the next day, yet trades on the day it was."""
    require_aware(moment, name="moment")
    return moment.astimezone(NEW_YORK).date()


def regular_session_for(moment: datetime) -> TradingSession:
    """The regular 9:30-16:00 session on ``moment``'s New York calendar date (no holiday logic)."""
    require_aware(moment, name="moment")
    return TradingSession(day=moment.astimezone(NEW_YORK).date())
