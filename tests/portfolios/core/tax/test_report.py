"""Form 8949 rows, Schedule D netting, the loss limit and the carryover worksheet."""

import datetime as dt
from decimal import Decimal

import pytest

from portfolios.core.errors import InvalidInput
from portfolios.core.tax import (
    AccountSpec,
    AccountType,
    Buy,
    FilingStatus,
    Sell,
    capital_loss_carryover,
    form_8949,
    replay_household,
    summarise_year,
)

D = Decimal
d = dt.date


@pytest.mark.parametrize(
    ("short", "long", "status", "taxable_income", "expected"),
    [
        # Short-term loss larger than the limit: the rest carries as short-term.
        ("-5000", "1000", FilingStatus.SINGLE, None, ("3000", "1000", "0")),
        # Long-term loss with a short-term gain: the gain absorbs part, the limit part.
        ("2000", "-10000", FilingStatus.SINGLE, None, ("3000", "0", "5000")),
        # Both losses: the deduction uses the short-term loss first.
        ("-2000", "-4000", FilingStatus.MARRIED_JOINT, None, ("3000", "0", "3000")),
        ("-4000", "-2000", FilingStatus.HEAD_OF_HOUSEHOLD, None, ("3000", "1000", "2000")),
        # Married filing separately: $1,500.
        ("-4000", "-2000", FilingStatus.MARRIED_SEPARATE, None, ("1500", "2500", "2000")),
        ("0", "-1000", FilingStatus.MARRIED_SEPARATE, None, ("1000", "0", "0")),
        # A loss within the limit carries nothing.
        ("-1000", "-500", FilingStatus.SINGLE, None, ("1500", "0", "0")),
        # A net gain: nothing deducted, nothing carried, even with a short-term loss inside.
        ("-2000", "5000", FilingStatus.SINGLE, None, ("0", "0", "0")),
        # Negative taxable income: only $1,000 of the $3,000 deduction was used.
        ("-5000", "0", FilingStatus.SINGLE, "-2000", ("3000", "4000", "0")),
        # Taxable income far below zero: nothing used, everything carries.
        ("-1000", "-2000", FilingStatus.SINGLE, "-10000", ("3000", "1000", "2000")),
    ],
)
def test_capital_loss_carryover_worksheet(short, long, status, taxable_income, expected):
    result = capital_loss_carryover(
        net_short_term=D(short),
        net_long_term=D(long),
        filing_status=status,
        taxable_income=None if taxable_income is None else D(taxable_income),
    )
    assert (
        result.deductible_loss,
        result.short_term_carryforward,
        result.long_term_carryforward,
    ) == tuple(D(value) for value in expected)


def test_carryovers_of_two_years_chain():
    # Year 1: short-term loss 10,000. Year 2: long-term gain 2,000 with the carryover.
    year_1 = capital_loss_carryover(
        net_short_term=D(-10000), net_long_term=D(0), filing_status=FilingStatus.SINGLE
    )
    assert year_1.short_term_carryforward == D(7000)
    year_2 = capital_loss_carryover(
        net_short_term=-year_1.short_term_carryforward,
        net_long_term=D(2000),
        filing_status=FilingStatus.SINGLE,
    )
    assert (year_2.deductible_loss, year_2.short_term_carryforward) == (D(3000), D(2000))


@pytest.fixture
def ledger():
    accounts = [AccountSpec("T"), AccountSpec("IRA", AccountType.IRA)]
    return replay_household(
        [
            Buy("b1", "T", "AAA", d(2022, 3, 1), D(100), D(10)),
            Buy("b2", "T", "BBB", d(2023, 2, 1), D(50), D(40)),
            Buy("b3", "IRA", "CCC", d(2023, 1, 3), D(10), D(100)),
            Sell("s1", "T", "AAA", d(2023, 6, 1), D(100), D(15)),  # long-term +500
            Sell("s2", "T", "BBB", d(2023, 7, 3), D(50), D(20)),  # short-term -1000
            Sell("s3", "IRA", "CCC", d(2023, 7, 3), D(10), D(50)),  # IRA loss: not reported
            Buy("b4", "T", "BBB", d(2023, 7, 20), D(10), D(21)),  # washes 10 of 50 shares
            Buy("b5", "T", "AAA", d(2024, 1, 2), D(10), D(10)),
            Sell("s4", "T", "AAA", d(2024, 2, 1), D(10), D(12)),  # next year
        ],
        accounts=accounts,
    )


def test_form_8949_rows_and_totals(ledger):
    report = form_8949(ledger.realised, year=2023)
    (short,) = report.short_term
    (long,) = report.long_term
    assert (long.description, long.acquired_on, long.sold_on) == (
        "100 sh AAA",
        d(2022, 3, 1),
        d(2023, 6, 1),
    )
    assert (long.proceeds, long.cost_basis, long.adjustment_code, long.gain_or_loss) == (
        D("1500.00"),
        D("1000.00"),
        "",
        D("500.00"),
    )
    assert (short.description, short.adjustment_code, short.adjustment) == (
        "50 sh BBB",
        "W",
        D("200.00"),
    )
    assert short.gain_or_loss == D("-800.00")
    assert report.short_term_totals.proceeds == D("1000.00")
    assert report.short_term_totals.cost_basis == D("2000.00")
    assert report.short_term_totals.adjustment == D("200.00")
    assert report.short_term_totals.gain_or_loss == D("-800.00")
    assert all(row.symbol != "CCC" for row in (*report.short_term, *report.long_term))


def test_summary_nets_terms_with_carryovers(ledger):
    summary = summarise_year(
        ledger.realised,
        year=2023,
        filing_status=FilingStatus.SINGLE,
        short_term_carryover=D(3000),
        long_term_carryover=D(100),
    )
    assert (summary.short_term_gain, summary.long_term_gain) == (D("-800.00"), D("500.00"))
    assert summary.net_short_term == D("-3800.00")
    assert summary.net_long_term == D("400.00")
    assert summary.net_gain == D("-3400.00")
    assert summary.deductible_loss == D("3000.00")
    assert summary.short_term_carryforward == D("400.00")
    assert summary.long_term_carryforward == D("0")


def test_summary_rejects_negative_carryovers(ledger):
    with pytest.raises(InvalidInput, match="short_term_carryover"):
        summarise_year(
            ledger.realised,
            year=2023,
            filing_status=FilingStatus.SINGLE,
            short_term_carryover=D(-1),
        )
