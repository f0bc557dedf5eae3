"""Realised gains for the tax year: Form 8949 rows, Schedule D netting and loss carryovers.

Sources: the Instructions for Form 8949 (columns (a) to (h); code W; Part I short-term, Part II
long-term; boxes A, B, D and E, :mod:`.basis_reporting`), the Instructions for Schedule D
(Form 1040): lines 1b, 2, 8b and 9 (each box's totals), 7, 15, 16 and 21, the capital loss
limit of $3,000 ($1,500 married filing separately), and the *Capital Loss Carryover Worksheet*,
which :func:`capital_loss_carryover` follows line by line.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from portfolios.core.errors import InvalidInput
from portfolios.core.money import ZERO
from portfolios.core.tax.basis_reporting import SCHEDULE_D_LINE, Form8949Box
from portfolios.core.tax.holding import Term
from portfolios.core.tax.lots import RealisedLot


class FilingStatus(StrEnum):
    """Filing status on Form 1040."""

    SINGLE = "single"
    MARRIED_JOINT = "married_joint"
    MARRIED_SEPARATE = "married_separate"
    HEAD_OF_HOUSEHOLD = "head_of_household"


CAPITAL_LOSS_LIMIT: dict[FilingStatus, Decimal] = {
    FilingStatus.SINGLE: Decimal("3000.00"),
    FilingStatus.MARRIED_JOINT: Decimal("3000.00"),
    FilingStatus.MARRIED_SEPARATE: Decimal("1500.00"),
    FilingStatus.HEAD_OF_HOUSEHOLD: Decimal("3000.00"),
}
"""Schedule D line 21: the most net capital loss deductible against other income (IRC 1211(b))."""


@dataclass(frozen=True, slots=True)
class Form8949Totals:
    """The totals line of a Form 8949 part: columns (d), (e), (g) and (h)."""

    proceeds: Decimal
    cost_basis: Decimal
    adjustment: Decimal
    gain_or_loss: Decimal

    @classmethod
    def of(cls, rows: Iterable[RealisedLot]) -> Form8949Totals:
        """Sum the columns of ``rows``."""
        proceeds = basis = adjustment = gain = ZERO
        for row in rows:
            proceeds += row.proceeds
            basis += row.cost_basis
            adjustment += row.adjustment
            gain += row.gain_or_loss
        return cls(proceeds=proceeds, cost_basis=basis, adjustment=adjustment, gain_or_loss=gain)


@dataclass(frozen=True, slots=True)
class Form8949Section:
    """The rows of one checked box (one Form 8949 of its own), their totals and where they go.

    ``schedule_d_line`` is the Schedule D line the totals are entered on (1b, 2, 8b or 9).
    """

    box: Form8949Box
    rows: tuple[RealisedLot, ...]
    totals: Form8949Totals

    @property
    def schedule_d_line(self) -> str:
        return SCHEDULE_D_LINE[self.box]


@dataclass(frozen=True, slots=True)
class Form8949:
    """A year's Form 8949: Part I (short-term) and Part II (long-term) rows and totals.

    Rows are the reportable realised lots sold in the year, ordered by sale date, then date
    acquired, then record id. Sales in IRA and Roth IRA accounts have no rows. ``sections``
    splits the same rows by box (A, B, D, E, in that order; a box without rows is left out), as
    the form is filed: one Form 8949 per checked box.
    """

    year: int
    short_term: tuple[RealisedLot, ...]
    long_term: tuple[RealisedLot, ...]
    short_term_totals: Form8949Totals
    long_term_totals: Form8949Totals
    sections: tuple[Form8949Section, ...] = ()


def form_8949(realised: Iterable[RealisedLot], *, year: int) -> Form8949:
    """The Form 8949 rows of ``year`` from a household's (or an account's) realised lots."""
    rows = sorted(
        (row for row in realised if row.reportable and row.sold_on.year == year),
        key=lambda row: (row.sold_on, row.acquired_on, row.record_id),
    )
    short = tuple(row for row in rows if row.term is Term.SHORT)
    long = tuple(row for row in rows if row.term is Term.LONG)
    sections = []
    for box in Form8949Box:
        boxed = tuple(row for row in rows if row.form_8949_box is box)
        if boxed:
            sections.append(Form8949Section(box, boxed, Form8949Totals.of(boxed)))
    return Form8949(
        year=year,
        short_term=short,
        long_term=long,
        short_term_totals=Form8949Totals.of(short),
        long_term_totals=Form8949Totals.of(long),
        sections=tuple(sections),
    )


@dataclass(frozen=True, slots=True)
class CapitalLossCarryover:
    """The loss deducted against other income this year and the losses carried to next year.

    All three are non-negative amounts.
    """

    deductible_loss: Decimal
    short_term_carryforward: Decimal
    long_term_carryforward: Decimal


def capital_loss_carryover(
    *,
    net_short_term: Decimal,
    net_long_term: Decimal,
    filing_status: FilingStatus,
    taxable_income: Decimal | None = None,
) -> CapitalLossCarryover:
    """Schedule D line 21 and the Capital Loss Carryover Worksheet (Schedule D instructions).

    Parameters
    ----------
    net_short_term
        Schedule D line 7: net short-term gain or (loss), prior short-term carryover included.
    net_long_term
        Schedule D line 15: net long-term gain or (loss), prior long-term carryover included.
    filing_status
        Decides the limit: $3,000, or $1,500 married filing separately.
    taxable_income
        Form 1040 taxable income for the year (negative if a loss), worksheet line 1. ``None``
        means it is not negative, so the whole deductible loss was used (line 4 = line 2).

    Returns
    -------
    CapitalLossCarryover
        The deductible loss (line 21 as a positive amount) and next year's short-term (worksheet
        line 8) and long-term (line 13) carryovers. The deduction uses up short-term losses
        first: line 7 of the worksheet applies it to the short-term loss before line 11 lets
        what is left of it reach the long-term loss.
    """
    net = net_short_term + net_long_term  # Schedule D line 16
    if net >= 0:
        return CapitalLossCarryover(ZERO, ZERO, ZERO)
    limit = CAPITAL_LOSS_LIMIT[filing_status]
    line_2 = min(-net, limit)  # Schedule D line 21, as a positive amount
    if taxable_income is None:
        line_4 = line_2
    else:
        line_3 = max(taxable_income + line_2, ZERO)
        line_4 = min(line_2, line_3)
    line_5 = max(-net_short_term, ZERO)  # short-term loss
    line_6 = max(net_long_term, ZERO)  # long-term gain
    line_7 = line_4 + line_6
    line_8 = max(line_5 - line_7, ZERO)
    line_13 = ZERO
    if net_long_term < 0:
        line_9 = -net_long_term
        line_10 = max(net_short_term, ZERO)
        line_11 = max(line_4 - line_5, ZERO)
        line_12 = line_10 + line_11
        line_13 = max(line_9 - line_12, ZERO)
    return CapitalLossCarryover(
        deductible_loss=line_2, short_term_carryforward=line_8, long_term_carryforward=line_13
    )


@dataclass(frozen=True, slots=True)
class CapitalGainsSummary:
    """A tax year's capital gains, netted as on Schedule D.

    Attributes
    ----------
    short_term_gain, long_term_gain
        Form 8949 Part I and Part II column (h) totals.
    short_term_carryover_in, long_term_carryover_in
        Losses carried over from the year before (Schedule D lines 6 and 14), positive.
    net_short_term, net_long_term, net_gain
        Schedule D lines 7, 15 and 16.
    deductible_loss
        Schedule D line 21 as a positive amount: the loss deducted from other income.
    short_term_carryforward, long_term_carryforward
        Losses carried to next year (Capital Loss Carryover Worksheet lines 8 and 13).
    form_8949
        The rows behind the figures.
    """

    year: int
    filing_status: FilingStatus
    short_term_gain: Decimal
    long_term_gain: Decimal
    short_term_carryover_in: Decimal
    long_term_carryover_in: Decimal
    net_short_term: Decimal
    net_long_term: Decimal
    net_gain: Decimal
    deductible_loss: Decimal
    short_term_carryforward: Decimal
    long_term_carryforward: Decimal
    form_8949: Form8949


def summarise_year(
    realised: Sequence[RealisedLot],
    *,
    year: int,
    filing_status: FilingStatus,
    short_term_carryover: Decimal = ZERO,
    long_term_carryover: Decimal = ZERO,
    taxable_income: Decimal | None = None,
) -> CapitalGainsSummary:
    """Net a year's realised gains, apply the loss limit and carry the rest forward.

    Parameters
    ----------
    realised
        The household's (or taxpayer's) realised lots; rows of other years are ignored.
    year
        Tax year.
    filing_status
        Form 1040 filing status.
    short_term_carryover, long_term_carryover
        Capital loss carryovers from the year before, as positive amounts.
    taxable_income
        See :func:`capital_loss_carryover`.

    Returns
    -------
    CapitalGainsSummary
    """
    for name, value in (
        ("short_term_carryover", short_term_carryover),
        ("long_term_carryover", long_term_carryover),
    ):
        if not value.is_finite() or value < 0:
            raise InvalidInput(f"{name} must be a non-negative amount, got {value}", field=name)
    report = form_8949(realised, year=year)
    short = report.short_term_totals.gain_or_loss
    long = report.long_term_totals.gain_or_loss
    net_short = short - short_term_carryover
    net_long = long - long_term_carryover
    carryover = capital_loss_carryover(
        net_short_term=net_short,
        net_long_term=net_long,
        filing_status=filing_status,
        taxable_income=taxable_income,
    )
    return CapitalGainsSummary(
        year=year,
        filing_status=filing_status,
        short_term_gain=short,
        long_term_gain=long,
        short_term_carryover_in=short_term_carryover,
        long_term_carryover_in=long_term_carryover,
        net_short_term=net_short,
        net_long_term=net_long,
        net_gain=net_short + net_long,
        deductible_loss=carryover.deductible_loss,
        short_term_carryforward=carryover.short_term_carryforward,
        long_term_carryforward=carryover.long_term_carryforward,
        form_8949=report,
    )
