"""Realised-gains reports of a household: IRS Form 8949 rows and the Schedule D summary of a year.

Selectors only: they read the household's realised lots (Form 8949 rows kept by the ledger) and
let the tax engine (:mod:`portfolios.core.tax.report`) net them, apply the capital-loss limit and
carry losses forward. The client portal offers :func:`tax_report_csv` as a download and the REST
API serves :func:`tax_report_json`; ``manage.py tax_report`` prints either.

Carryovers: the household's ``loss_carryforward_short`` / ``loss_carryforward_long`` are the losses
carried into the first tax year that has realised lots on the platform. From that year up to the
year before the report, each year is netted in turn (Schedule D lines 7 and 15, prior carryover
included) and what the $3,000 limit ($1,500 married filing separately) leaves over is carried to
the next year. Years in between with no sales still use up the deduction, as a carryover alone
is deducted on that year's return. Two simplifications, stated in the report: the household's
current filing status applies to every year, and taxable income is taken as not negative (the
whole deductible loss is used; Capital Loss Carryover Worksheet line 4 = line 2).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import Sum
from django.db.models.functions import ExtractYear

from portfolios.core import tax
from portfolios.core.errors import InvalidInput, NotFound
from portfolios.core.money import ZERO, cash
from portfolios.ledger import core_realized
from portfolios.models import Household, RealizedLot, Term

#: The version of the JSON shape; bump it on any incompatible change.
JSON_FORMAT = "tax_report/v1"

FIRST_TAX_YEAR = 1913
LAST_TAX_YEAR = 9999

#: Form 8949 column headings, (a) to (h).
FORM_8949_COLUMNS = (
    "(a) Description of property",
    "(b) Date acquired",
    "(c) Date sold or disposed of",
    "(d) Proceeds (sales price)",
    "(e) Cost or other basis",
    "(f) Code(s) from instructions",
    "(g) Amount of adjustment to gain or loss",
    "(h) Gain or (loss)",
)

#: The summary block: key (also the JSON key), label.
SUMMARY_ITEMS = (
    ("short_term_gain", "Short-term gain or (loss), Form 8949 Part I total"),
    ("short_term_carryover_in", "Short-term capital loss carryover from the year before"),
    ("net_short_term", "Net short-term capital gain or (loss), Schedule D line 7"),
    ("long_term_gain", "Long-term gain or (loss), Form 8949 Part II total"),
    ("long_term_carryover_in", "Long-term capital loss carryover from the year before"),
    ("net_long_term", "Net long-term capital gain or (loss), Schedule D line 15"),
    ("net_gain", "Net capital gain or (loss), Schedule D line 16"),
    ("loss_limit", "Capital loss limit against other income"),
    ("deductible_loss", "Capital loss deducted from other income, Schedule D line 21"),
    ("short_term_carryforward", "Short-term capital loss carryforward to next year"),
    ("long_term_carryforward", "Long-term capital loss carryforward to next year"),
)


@dataclass(frozen=True)
class Form8949Line:
    """One row of Form 8949 with the account and security it came from."""

    description: str
    symbol: str
    quantity: Decimal
    account_id: int
    account_name: str
    date_acquired: dt.date
    date_sold: dt.date
    proceeds: Decimal
    cost_basis: Decimal
    adjustment_code: str
    adjustment_amount: Decimal
    gain_or_loss: Decimal
    box: tax.Form8949Box


@dataclass(frozen=True)
class Form8949BoxSection:
    """The rows of one checked box (a Form 8949 of its own) and the totals line, which goes on
    Schedule D line ``schedule_d_line``."""

    box: tax.Form8949Box
    lines: tuple[Form8949Line, ...]
    totals: tax.Form8949Totals

    @property
    def title(self) -> str:
        return self.box.wording

    @property
    def schedule_d_line(self) -> str:
        return tax.SCHEDULE_D_LINE[self.box]


@dataclass(frozen=True)
class Form8949Part:
    """Part I (short-term) or Part II (long-term): its rows and totals, and the same rows split
    by box (A and B in Part I, D and E in Part II; boxes without rows are left out)."""

    term: str
    lines: tuple[Form8949Line, ...]
    totals: tax.Form8949Totals
    sections: tuple[Form8949BoxSection, ...] = ()


@dataclass(frozen=True)
class TaxReport:
    """A household's realised gains for one tax year, as Form 8949 and Schedule D show them.

    ``summary`` is the tax engine's netting (carryovers in, net short and long term, the
    deduction, carryforwards out); ``loss_limit`` the limit that applied to the deduction.
    """

    household_id: int
    household_name: str
    year: int
    filing_status: tax.FilingStatus
    part_i: Form8949Part
    part_ii: Form8949Part
    loss_limit: Decimal
    summary: tax.CapitalGainsSummary

    def summary_amounts(self) -> dict[str, Decimal]:
        """The summary block as key to amount, in :data:`SUMMARY_ITEMS` order."""
        s = self.summary
        values = {
            "short_term_gain": s.short_term_gain,
            "short_term_carryover_in": s.short_term_carryover_in,
            "net_short_term": s.net_short_term,
            "long_term_gain": s.long_term_gain,
            "long_term_carryover_in": s.long_term_carryover_in,
            "net_long_term": s.net_long_term,
            "net_gain": s.net_gain,
            "loss_limit": self.loss_limit,
            "deductible_loss": s.deductible_loss,
            "short_term_carryforward": s.short_term_carryforward,
            "long_term_carryforward": s.long_term_carryforward,
        }
        return {key: values[key] for key, _ in SUMMARY_ITEMS}


def _check_year(year: int) -> None:
    if isinstance(year, bool) or not isinstance(year, int):
        raise InvalidInput(f"the tax year must be a whole number, got {year!r}", field="year")
    if not FIRST_TAX_YEAR <= year <= LAST_TAX_YEAR:
        raise InvalidInput(
            f"the tax year must be between {FIRST_TAX_YEAR} and {LAST_TAX_YEAR}, got {year}",
            field="year",
        )


def capital_loss_carryover_into(*, household: Household, year: int) -> tuple[Decimal, Decimal]:
    """The (short-term, long-term) capital loss carried into ``year``, both non-negative.

    Starts from the household's carryforwards as the carry into its first year with realised
    lots, then nets every year from there to ``year - 1`` (see the module docstring).
    """
    _check_year(year)
    carry_short = household.loss_carryforward_short
    carry_long = household.loss_carryforward_long
    totals = (
        RealizedLot.objects.filter(
            account__household=household, reportable=True, sold_on__lt=dt.date(year, 1, 1)
        )
        .annotate(tax_year=ExtractYear("sold_on"))
        .values("tax_year", "term")
        .annotate(total=Sum("gain"))
        .values_list("tax_year", "term", "total")
    )
    by_year: dict[int, dict[str, Decimal]] = {}
    for tax_year, term, total in totals:
        by_year.setdefault(int(tax_year), {})[term] = total or ZERO
    if not by_year:
        return carry_short, carry_long
    status = tax.FilingStatus(household.filing_status)
    for tax_year in range(min(by_year), year):
        gains = by_year.get(tax_year, {})
        carryover = tax.capital_loss_carryover(
            net_short_term=gains.get(Term.SHORT, ZERO) - carry_short,
            net_long_term=gains.get(Term.LONG, ZERO) - carry_long,
            filing_status=status,
        )
        carry_short = carryover.short_term_carryforward
        carry_long = carryover.long_term_carryforward
    return carry_short, carry_long


def tax_report(*, household_id: int, year: int) -> TaxReport:
    """The household's Form 8949 rows (reportable sales only) and Schedule D summary for ``year``."""
    _check_year(year)
    household = Household.objects.filter(pk=household_id).first()
    if household is None:
        raise NotFound(f"household {household_id} does not exist", field="household")
    rows = {
        str(row.pk): row
        for row in RealizedLot.objects.filter(
            account__household=household, reportable=True, sold_on__year=year
        ).select_related("asset", "account")
    }
    carry_short, carry_long = capital_loss_carryover_into(household=household, year=year)
    status = tax.FilingStatus(household.filing_status)
    summary = tax.summarise_year(
        [core_realized(row, row.asset.symbol) for row in rows.values()],
        year=year,
        filing_status=status,
        short_term_carryover=carry_short,
        long_term_carryover=carry_long,
    )
    form = summary.form_8949

    def line(record: tax.RealisedLot) -> Form8949Line:
        row = rows[record.record_id]
        return Form8949Line(
            description=record.description,
            symbol=record.symbol,
            quantity=record.quantity,
            account_id=row.account_id,
            account_name=row.account.name,
            date_acquired=record.acquired_on,
            date_sold=record.sold_on,
            proceeds=record.proceeds,
            cost_basis=record.cost_basis,
            adjustment_code=record.adjustment_code,
            adjustment_amount=record.adjustment,
            gain_or_loss=record.gain_or_loss,
            box=record.form_8949_box,
        )

    def part(term: Term, totals: tax.Form8949Totals) -> Form8949Part:
        sections = tuple(
            Form8949BoxSection(
                box=section.box,
                lines=tuple(line(record) for record in section.rows),
                totals=section.totals,
            )
            for section in form.sections
            if section.rows[0].term.value == term
        )
        return Form8949Part(
            term=term,
            lines=tuple(line for section in sections for line in section.lines),
            totals=totals,
            sections=sections,
        )

    return TaxReport(
        household_id=household.pk,
        household_name=household.name,
        year=year,
        filing_status=status,
        part_i=part(Term.SHORT, form.short_term_totals),
        part_ii=part(Term.LONG, form.long_term_totals),
        loss_limit=tax.CAPITAL_LOSS_LIMIT[status],
        summary=summary,
    )


def _money(value: Decimal) -> str:
    """A cash amount as a plain string with 2 places: ``-1234.50``."""
    return f"{cash(value):f}"


#: What makes a spreadsheet read a cell as a formula (OWASP's list of CSV injection triggers).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_text(value: str) -> str:
    """A text cell for a CSV export, safe to open in a spreadsheet: text that would start a
    formula (a household named ``=HYPERLINK(...)``) gets a leading ``'``, as OWASP advises.
    Only for text: amounts are written as they are, so a loss stays ``-150.00``."""
    return f"'{value}" if value.startswith(_FORMULA_STARTS) else value


def _quantity(value: Decimal) -> str:
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


_PART_TITLES = {
    Term.SHORT: ("Part I", "Short-term transactions (assets held one year or less)"),
    Term.LONG: ("Part II", "Long-term transactions (assets held more than one year)"),
}


def _csv_rows(writer: Any, section: Form8949BoxSection | None) -> None:
    """A box's rows and its totals line (zeros for a part without sales)."""
    lines = section.lines if section is not None else ()
    for line in lines:
        writer.writerow(
            [
                csv_text(line.description),
                line.date_acquired.isoformat(),
                line.date_sold.isoformat(),
                _money(line.proceeds),
                _money(line.cost_basis),
                csv_text(line.adjustment_code),
                _money(line.adjustment_amount) if line.adjustment_code else "",
                _money(line.gain_or_loss),
            ]
        )
    totals = section.totals if section is not None else tax.Form8949Totals.of(())
    label = f"Totals (Schedule D line {section.schedule_d_line})" if section else "Totals"
    writer.writerow(
        [
            label,
            "",
            "",
            _money(totals.proceeds),
            _money(totals.cost_basis),
            "",
            _money(totals.adjustment),
            _money(totals.gain_or_loss),
        ]
    )


def tax_report_csv(report: TaxReport) -> str:
    """The report as an IRS-Form-8949-like CSV: a heading block, Part I, Part II, a summary.

    Layout (blank line between blocks)::

        Form 8949,Sales and Other Dispositions of Capital Assets
        Household,<name>
        Tax year,<year>
        Filing status,<status>

        Part I,Short-term transactions (assets held one year or less)
        Box A,"Short-term, reported on Form 1099-B with basis reported to the IRS"
        (a) Description of property,(b) Date acquired,...,(h) Gain or (loss)
        <one row per sale: 10 sh XYZ,2024-01-02,2024-03-01,750.00,1000.00,W,250.00,0.00>
        Totals (Schedule D line 1b),,,<d>,<e>,,<g>,<h>

        Part I,Short-term transactions (assets held one year or less)
        Box B,...                     (then Part II with boxes D and E, the same way)

        Summary,Schedule D
        Item,Description,Amount
        <key>,<label>,<amount>   (one line per SUMMARY_ITEMS entry)

    Each box is a Form 8949 of its own, so each has its part heading, rows and totals; a box
    without sales is left out, and a part without any prints its heading, the column headings and
    a zero totals line. Dates are ISO 8601; amounts have 2 decimal places, losses negative, no
    thousands separators.
    Text that a spreadsheet would read as a formula is prefixed with ``'`` (:func:`csv_text`).
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["Form 8949", "Sales and Other Dispositions of Capital Assets"])
    writer.writerow(["Household", csv_text(report.household_name)])
    writer.writerow(["Tax year", report.year])
    writer.writerow(["Filing status", report.filing_status.value])
    for part in (report.part_i, report.part_ii):
        for section in part.sections or (None,):
            writer.writerow([])
            writer.writerow(list(_PART_TITLES[Term(part.term)]))
            if section is not None:
                writer.writerow([f"Box {section.box.value}", section.title])
            writer.writerow(FORM_8949_COLUMNS)
            _csv_rows(writer, section)
    writer.writerow([])
    writer.writerow(["Summary", "Schedule D"])
    writer.writerow(["Item", "Description", "Amount"])
    amounts = report.summary_amounts()
    for key, label in SUMMARY_ITEMS:
        writer.writerow([key, label, _money(amounts[key])])
    return buffer.getvalue()


def _totals_json(totals: tax.Form8949Totals) -> dict[str, str]:
    return {
        "proceeds": _money(totals.proceeds),
        "cost_basis": _money(totals.cost_basis),
        "adjustment_amount": _money(totals.adjustment),
        "gain_or_loss": _money(totals.gain_or_loss),
    }


def _part_json(part: Form8949Part) -> dict[str, Any]:
    return {
        "term": part.term,
        "rows": [
            {
                "description": line.description,
                "symbol": line.symbol,
                "quantity": _quantity(line.quantity),
                "account_id": line.account_id,
                "account": line.account_name,
                "date_acquired": line.date_acquired.isoformat(),
                "date_sold": line.date_sold.isoformat(),
                "proceeds": _money(line.proceeds),
                "cost_basis": _money(line.cost_basis),
                "adjustment_code": line.adjustment_code,
                "adjustment_amount": _money(line.adjustment_amount),
                "gain_or_loss": _money(line.gain_or_loss),
                "box": line.box.value,
            }
            for line in part.lines
        ],
        "totals": _totals_json(part.totals),
        "boxes": [
            {
                "box": section.box.value,
                "title": section.title,
                "schedule_d_line": section.schedule_d_line,
                "totals": _totals_json(section.totals),
            }
            for section in part.sections
        ],
    }


def tax_report_json(report: TaxReport) -> dict[str, Any]:
    """The report as JSON-ready data; every amount is a string with 2 places.

    Shape (``format`` names the version)::

        {"format": "tax_report/v1",
         "household": {"id": 1, "name": "Rivera"},
         "tax_year": 2024,
         "filing_status": "single",
         "part_i":  {"term": "short",
                     "rows": [{"description": "10 sh XYZ", "symbol": "XYZ", "quantity": "10",
                               "account_id": 3, "account": "Brokerage",
                               "date_acquired": "2024-01-02", "date_sold": "2024-03-01",
                               "proceeds": "750.00", "cost_basis": "1000.00",
                               "adjustment_code": "W", "adjustment_amount": "250.00",
                               "gain_or_loss": "0.00", "box": "A"}],
                     "totals": {"proceeds": ..., "cost_basis": ..., "adjustment_amount": ...,
                                "gain_or_loss": ...},
                     "boxes": [{"box": "A", "title": "Short-term, reported on Form 1099-B with
                                basis reported to the IRS", "schedule_d_line": "1b",
                                "totals": {...}}]},
         "part_ii": {"term": "long", "rows": [...], "totals": {...}},
         "summary": {"short_term_gain": "-6000.00", ..., "long_term_carryforward": "0.00"}}

    ``summary`` has the keys of :data:`SUMMARY_ITEMS`; ``adjustment_code`` is ``""`` or ``"W"``
    (then ``adjustment_amount`` is the disallowed wash-sale loss, else ``"0.00"``). A part's rows
    come box by box (A then B; D then E), each row naming its ``box``; ``boxes`` has the totals
    of each box with rows and the Schedule D line they go on (1b, 2, 8b, 9).
    """
    return {
        "format": JSON_FORMAT,
        "household": {"id": report.household_id, "name": report.household_name},
        "tax_year": report.year,
        "filing_status": report.filing_status.value,
        "part_i": _part_json(report.part_i),
        "part_ii": _part_json(report.part_ii),
        "summary": {key: _money(value) for key, value in report.summary_amounts().items()},
    }
