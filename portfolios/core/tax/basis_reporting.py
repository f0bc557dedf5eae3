"""Basis reporting on Form 1099-B: covered securities and the Form 8949 box of a sale.

A broker reports every sale on Form 1099-B; for a *covered* security it also reports the cost
basis to the IRS (IRC 6045(g), Treas. Reg. 1.6045-1(a)(15)). Which box of Form 8949 a sale goes
under follows from the two facts the Instructions for Form 8949 ask about:

====  ==========  ==========================================================================
box   term        the sale was
====  ==========  ==========================================================================
A     short       reported on Form 1099-B, with the basis reported to the IRS
B     short       reported on Form 1099-B, with the basis not reported to the IRS
D     long        reported on Form 1099-B, with the basis reported to the IRS
E     long        reported on Form 1099-B, with the basis not reported to the IRS
====  ==========  ==========================================================================

Boxes C and F (a sale not reported on any Form 1099-B) do not arise: every sale on the platform
is the broker's own and goes on its 1099-B. Each box is a separate Form 8949 whose totals go to
their own Schedule D line (:data:`SCHEDULE_D_LINE`).

Covered securities, by acquisition date (Treas. Reg. 1.6045-1(a)(15)(i)): stock acquired on or
after 1 January 2011, and stock of a regulated investment company (mutual funds and the
exchange-traded funds organised as one) acquired on or after 1 January 2012. Shares bought
before those dates are non-covered: the broker reports the sale but not the basis.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from portfolios.core.tax.holding import Term

#: The first acquisition date on which stock is a covered security.
STOCK_COVERED_FROM = dt.date(2011, 1, 1)
#: The first acquisition date on which fund shares (a regulated investment company's) are covered.
FUND_COVERED_FROM = dt.date(2012, 1, 1)


class Form8949Box(StrEnum):
    """The check box at the top of Form 8949 Part I (A, B) or Part II (D, E)."""

    A = "A"
    B = "B"
    D = "D"
    E = "E"

    @property
    def wording(self) -> str:
        """The box's wording on the form, shortened."""
        return BOX_TITLES[self]


BOX_TITLES: dict[Form8949Box, str] = {
    Form8949Box.A: "Short-term, reported on Form 1099-B with basis reported to the IRS",
    Form8949Box.B: "Short-term, reported on Form 1099-B with basis not reported to the IRS",
    Form8949Box.D: "Long-term, reported on Form 1099-B with basis reported to the IRS",
    Form8949Box.E: "Long-term, reported on Form 1099-B with basis not reported to the IRS",
}

#: The Schedule D line each box's Form 8949 totals are carried to (Instructions for Schedule D).
SCHEDULE_D_LINE: dict[Form8949Box, str] = {
    Form8949Box.A: "1b",
    Form8949Box.B: "2",
    Form8949Box.D: "8b",
    Form8949Box.E: "9",
}


def basis_reported_by_date(acquired_on: dt.date, *, fund: bool) -> bool:
    """Whether shares acquired on ``acquired_on`` are a covered security (basis reported).

    ``fund`` is true for shares of a mutual fund or of an exchange-traded fund organised as a
    regulated investment company, covered from 2012; other stock is covered from 2011.
    """
    return acquired_on >= (FUND_COVERED_FROM if fund else STOCK_COVERED_FROM)


def form_8949_box(term: Term, *, basis_reported: bool) -> Form8949Box:
    """The Form 8949 box of a sale reported on Form 1099-B."""
    if term is Term.SHORT:
        return Form8949Box.A if basis_reported else Form8949Box.B
    return Form8949Box.D if basis_reported else Form8949Box.E
