"""Holding periods: the calendar rule of Publication 550 across 29 February, and tacking."""

import datetime as dt

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from portfolios.core.tax.holding import (
    Term,
    first_long_term_date,
    first_long_term_dates,
    holding_term,
    is_long_term,
    long_term_mask,
    tacked_acquisition_date,
)

d = dt.date


@pytest.mark.parametrize(
    ("acquired", "last_short", "first_long"),
    [
        # Publication 550's example: bought 5 February, sold 5 February next year is short-term.
        (d(2022, 2, 5), d(2023, 2, 5), d(2023, 2, 6)),
        # Held 2023-03-01 through 2024-02-29 is exactly one year: not more than one year.
        (d(2023, 2, 28), d(2024, 2, 29), d(2024, 3, 1)),
        # Leap-day purchase: holding starts 2024-03-01.
        (d(2024, 2, 29), d(2025, 2, 28), d(2025, 3, 1)),
        # Holding starts on 29 February 2024; 2025 has none, so the 13th month starts 1 March.
        (d(2024, 2, 28), d(2025, 2, 28), d(2025, 3, 1)),
        (d(2023, 1, 31), d(2024, 1, 31), d(2024, 2, 1)),
        (d(2023, 12, 31), d(2024, 12, 31), d(2025, 1, 1)),
        (d(2024, 3, 1), d(2025, 3, 1), d(2025, 3, 2)),
    ],
)
def test_one_year_boundary(acquired, last_short, first_long):
    assert first_long_term_date(acquired) == first_long
    assert not is_long_term(acquired, last_short)
    assert is_long_term(acquired, first_long)
    assert holding_term(acquired, last_short) is Term.SHORT
    assert holding_term(acquired, first_long) is Term.LONG
    assert last_short + dt.timedelta(days=1) == first_long


def test_days_are_not_the_rule():
    # 366 days after a purchase across a leap day is still not "more than one year" held.
    acquired = d(2023, 3, 1)
    sold = acquired + dt.timedelta(days=366)
    assert sold == d(2024, 3, 1)
    assert not is_long_term(acquired, sold)
    # ...while 366 days in a year without a leap day is.
    assert is_long_term(d(2024, 3, 1), d(2024, 3, 1) + dt.timedelta(days=366))


@given(st.dates(min_value=d(1990, 1, 1), max_value=d(2090, 12, 31)))
def test_vectorised_dates_match_scalar(acquired):
    expected = first_long_term_date(acquired)
    got = first_long_term_dates(np.array([acquired], dtype="datetime64[D]"))[0]
    assert got == np.datetime64(expected)


def test_long_term_mask_matches_scalar_over_every_day_of_leap_years():
    acquired = np.arange(np.datetime64("2023-01-01"), np.datetime64("2025-01-01"))
    for sold in (d(2024, 2, 28), d(2024, 2, 29), d(2024, 3, 1), d(2025, 2, 28), d(2025, 3, 1)):
        mask = long_term_mask(acquired, sold)
        expected = [is_long_term(day.astype(dt.date), sold) for day in acquired]
        assert mask.tolist() == expected


def test_tacking_after_the_sale_moves_the_start_back_by_the_days_held():
    # Held 2023-01-10 to 2023-06-01 (142 days); replacement bought 2023-06-10.
    tacked = tacked_acquisition_date(
        replacement_acquired_on=d(2023, 6, 10),
        sold_lot_acquired_on=d(2023, 1, 10),
        sold_on=d(2023, 6, 1),
    )
    assert tacked == d(2023, 6, 10) - (d(2023, 6, 1) - d(2023, 1, 10))
    assert tacked == d(2023, 1, 19)


def test_tacking_before_the_sale_does_not_count_overlapping_days_twice():
    # Replacement bought 5 days before the sale: the union of the two periods starts at the
    # sold lot's start.
    assert tacked_acquisition_date(
        replacement_acquired_on=d(2023, 5, 27),
        sold_lot_acquired_on=d(2023, 1, 10),
        sold_on=d(2023, 6, 1),
    ) == d(2023, 1, 10)
    # A replacement older than the sold lot keeps its own date.
    assert tacked_acquisition_date(
        replacement_acquired_on=d(2023, 1, 5),
        sold_lot_acquired_on=d(2023, 1, 10),
        sold_on=d(2023, 1, 20),
    ) == d(2023, 1, 5)
