"""The firm's calendar day.

Business dates ("today": a deposit's or withdrawal's date, the date a form may not pass, the tax
year, a recommendation's as-of day) are the day in the firm's zone, ``settings.TIME_ZONE``,
whatever zone is active for display: the REST API renders its datetimes in UTC
(``advisor.api.middleware``) and must not move "today" with them. Trade dates are the market's
day instead (``trading.core.sessions.market_date``).
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone


def firm_today(now: dt.datetime | None = None) -> dt.date:
    """The firm's calendar date at ``now`` (aware; default: the current time)."""
    return timezone.localdate(now, timezone.get_default_timezone())
