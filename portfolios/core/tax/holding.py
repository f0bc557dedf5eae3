"""Holding periods: short or long term, and the wash-sale tacking of a sold lot's period.

The rule, from IRS Publication 550 ("Holding Period") and the revenue rulings behind it
(Rev. Rul. 66-97, 1966-1 C.B. 190, and Rev. Rul. 70-598, 1970-2 C.B. 168: exclude the trade
date of the purchase, include the trade date of the sale):

* "begin counting on the date after the day you acquired the property. The same date of each
  following month is the beginning of a new month regardless of the number of days in the
  preceding month. The day you disposed of the property is part of your holding period."
  (Publication 550);
* a gain or loss is long-term when the security was held *more than one year* (IRC section
  1222), short-term otherwise.

So the first day of the long-term period is the first day of the thirteenth holding month: the
day after the trade date, one calendar year on. When that day would be 29 February in a year
that has none (the security was bought on 28 February of a leap year), the thirteenth month
begins on 1 March, the first day that exists after it. Worked cases, each tested:

=================  =========================  ======================================
trade date         first long-term sale date  why
=================  =========================  ======================================
2022-02-05         2023-02-06                 Publication 550's own example
2023-02-28         2024-03-01                 holding starts 2023-03-01; a sale on
                                              2024-02-29 is held exactly one year
2024-02-29         2025-03-01                 holding starts 2024-03-01
2024-02-28         2025-03-01                 holding starts 2024-02-29; 2025 has no
                                              29 February, so the month starts 1 March
2023-01-31         2024-02-01                 holding starts 2023-02-01
=================  =========================  ======================================

For a purchase on the last day of a month this is the month-end reading courts apply (a holding
month then ends on the last day of a following month: bought 30 November, sold 31 May is exactly
six months, Caspe v. United States, 694 F.2d 1116 (8th Cir. 1982)). It differs from the naive
"anniversary plus one day" only for a purchase on 28 February before a leap day: bought
2023-02-28, the naive rule would call a sale on 2024-02-29 long-term, which holds the security
for exactly one year (2023-03-01 through 2024-02-29), not more. Counting days (``> 365``) is
wrong across leap years and is not used.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

import numpy as np
import numpy.typing as npt

WASH_SALE_WINDOW_DAYS = 30
"""IRC section 1091(a): 30 days before to 30 days after the sale, both ends inclusive."""


class Term(StrEnum):
    """Short or long term (Form 8949 Part I or Part II)."""

    SHORT = "short"
    LONG = "long"


def first_long_term_date(acquired_on: dt.date) -> dt.date:
    """The first sale date on which a security bought on ``acquired_on`` is long-term.

    Parameters
    ----------
    acquired_on
        Trade date of the purchase, or the date deemed to be it after wash-sale tacking.

    Returns
    -------
    datetime.date
        The day after ``acquired_on`` moved one calendar year on; 1 March when that would be a
        29 February that does not exist (Publication 550, "Holding Period").
    """
    start = acquired_on + dt.timedelta(days=1)
    try:
        return start.replace(year=start.year + 1)
    except ValueError:  # 29 February with no 29 February a year later
        return dt.date(start.year + 1, 3, 1)


def is_long_term(acquired_on: dt.date, sold_on: dt.date) -> bool:
    """Whether a sale on ``sold_on`` of a security bought on ``acquired_on`` is long-term.

    Held "more than one year" (IRC section 1222), counted as Publication 550 says: from the day
    after the trade date, through the sale date, in calendar months.
    """
    return sold_on >= first_long_term_date(acquired_on)


def holding_term(acquired_on: dt.date, sold_on: dt.date) -> Term:
    """:class:`Term` of a sale on ``sold_on`` of a security bought on ``acquired_on``."""
    return Term.LONG if is_long_term(acquired_on, sold_on) else Term.SHORT


def first_long_term_dates(acquired_on: npt.ArrayLike) -> npt.NDArray[np.datetime64]:
    """Vectorised :func:`first_long_term_date`.

    Parameters
    ----------
    acquired_on
        Trade dates, shape (n,), anything that converts to ``datetime64[D]``.

    Returns
    -------
    numpy.ndarray
        ``datetime64[D]`` of shape (n,): the first long-term sale date of each purchase.
    """
    start = np.asarray(acquired_on, dtype="datetime64[D]") + np.timedelta64(1, "D")
    month = start.astype("datetime64[M]")
    day_index = (start - month.astype("datetime64[D]")).astype(np.int64)
    target_month = (month + np.timedelta64(12, "M")).astype("datetime64[D]")
    following_month = (month + np.timedelta64(13, "M")).astype("datetime64[D]")
    month_length = (following_month - target_month).astype(np.int64)
    fits = day_index < month_length
    return np.where(fits, target_month + day_index.astype("timedelta64[D]"), following_month)


def long_term_mask(acquired_on: npt.ArrayLike, sold_on: dt.date) -> npt.NDArray[np.bool_]:
    """Vectorised :func:`is_long_term` for many lots sold on one date.

    Parameters
    ----------
    acquired_on
        Trade dates (or deemed trade dates), shape (n,).
    sold_on
        The sale date.

    Returns
    -------
    numpy.ndarray
        Booleans of shape (n,), true where the sale would be long-term.
    """
    return np.datetime64(sold_on, "D") >= first_long_term_dates(acquired_on)


def tacked_acquisition_date(
    *,
    replacement_acquired_on: dt.date,
    sold_lot_acquired_on: dt.date,
    sold_on: dt.date,
) -> dt.date:
    """The deemed trade date of a wash-sale replacement lot once the sold lot's period is tacked.

    Publication 550 ("Wash Sales"): "your holding period for the substantially identical stock
    or securities includes the holding period of the stock or securities sold" (IRC section
    1223(3)). The sold lot was held from ``sold_lot_acquired_on`` to ``sold_on``; that many days
    move the replacement's start earlier. A replacement bought *before* the sale already holds
    the overlapping days itself, so they are not counted twice: the combined period is the union
    of the two, which starts at the earlier of the sold lot's start and the replacement's own.

    Parameters
    ----------
    replacement_acquired_on
        Trade date of the replacement shares.
    sold_lot_acquired_on
        Trade date (or deemed trade date) of the lot sold at a loss.
    sold_on
        Trade date of the loss sale.

    Returns
    -------
    datetime.date
        The replacement's deemed trade date: never later than its own trade date.
    """
    gap = max(replacement_acquired_on - sold_on, dt.timedelta(0))
    return min(replacement_acquired_on, sold_lot_acquired_on + gap)
