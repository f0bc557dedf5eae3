"""Form 8949 and the Schedule D summary from the ledger: rows, loss limit, carryovers, outputs."""

import csv
import datetime as dt
import io
import json
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from portfolios.core.errors import InvalidInput, NotFound
from portfolios.ledger import trade_apply
from portfolios.models import AccountType, FilingStatus, LotMethod, SecurityType
from portfolios.services import holding_transfer_in
from portfolios.tax_reports import (
    FORM_8949_COLUMNS,
    JSON_FORMAT,
    SUMMARY_ITEMS,
    capital_loss_carryover_into,
    csv_text,
    tax_report,
    tax_report_csv,
    tax_report_json,
)
from tests.factories import (
    AccountFactory,
    AssetFactory,
    HouseholdFactory,
    RealizedLotFactory,
    TaxLotFactory,
)

pytestmark = pytest.mark.django_db
D = Decimal
d = dt.date


def realised(
    account,
    symbol,
    *,
    sold_on,
    proceeds,
    basis,
    adjustment="0",
    acquired_on=None,
    quantity="10",
    term="short",
):
    asset = AssetFactory(symbol=symbol)
    acquired_on = acquired_on or d(sold_on.year, 1, 2)
    lot = TaxLotFactory(account=account, asset=asset, acquired_on=acquired_on, quantity=D(quantity))
    adjustment = D(adjustment)
    return RealizedLotFactory(
        lot=lot,
        quantity=D(quantity),
        acquired_on=acquired_on,
        holding_period_start=acquired_on,
        sold_on=sold_on,
        proceeds=D(proceeds),
        cost_basis=D(basis),
        adjustment_code="W" if adjustment else "",
        adjustment_amount=adjustment,
        gain=D(proceeds) - D(basis) + adjustment,
        term=term,
        reportable=account.account_type == AccountType.TAXABLE,
    )


@pytest.fixture
def household():
    """Worked example: $4,000 long-term loss carried in; 2023 uses $3,000 of it; 2024 has a wash
    sale, a $6,000 short-term loss and a $1,000 long-term gain; an IRA sale is never reported."""
    household = HouseholdFactory(name="Okafor", loss_carryforward_long=D("4000.00"))
    taxable = AccountFactory(household=household, name="Brokerage")
    ira = AccountFactory(household=household, name="IRA", account_type=AccountType.IRA)
    realised(
        taxable,
        "OLD",
        sold_on=d(2023, 8, 1),
        proceeds="2500",
        basis="2000",
        acquired_on=d(2020, 5, 1),
        term="long",
    )
    realised(
        taxable,
        "XYZ",
        sold_on=d(2024, 3, 1),
        proceeds="750",
        basis="1000",
        adjustment="250",
        acquired_on=d(2024, 1, 10),
        quantity="100",
    )
    realised(taxable, "AAA", sold_on=d(2024, 5, 1), proceeds="1000", basis="7000")
    realised(
        taxable,
        "BBB",
        sold_on=d(2024, 6, 3),
        proceeds="3000",
        basis="2000",
        acquired_on=d(2021, 1, 4),
        term="long",
    )
    realised(ira, "IRAX", sold_on=d(2024, 7, 1), proceeds="1", basis="10000")
    return household


def test_form_8949_rows_and_totals(household):
    report = tax_report(household_id=household.pk, year=2024)
    assert [line.symbol for line in report.part_i.lines] == ["XYZ", "AAA"]
    washed = report.part_i.lines[0]
    assert (washed.description, washed.date_acquired, washed.date_sold) == (
        "100 sh XYZ",
        d(2024, 1, 10),
        d(2024, 3, 1),
    )
    assert (
        washed.proceeds,
        washed.cost_basis,
        washed.adjustment_code,
        washed.adjustment_amount,
        washed.gain_or_loss,
    ) == (
        D("750.00"),
        D("1000.00"),
        "W",
        D("250.00"),
        D("0.00"),
    )
    totals = report.part_i.totals
    assert (totals.proceeds, totals.cost_basis, totals.adjustment, totals.gain_or_loss) == (
        D("1750.00"),
        D("8000.00"),
        D("250.00"),
        D("-6000.00"),
    )
    assert [line.symbol for line in report.part_ii.lines] == ["BBB"]  # the IRA sale is not reported
    assert report.part_ii.totals.gain_or_loss == D("1000.00")


def test_summary_single_uses_the_3000_limit_and_carries_the_rest(household):
    # 2023: 500 long-term gain - 4,000 carried in = -3,500; 3,000 deducted, 500 carried (long).
    assert capital_loss_carryover_into(household=household, year=2024) == (D("0"), D("500.00"))
    summary = tax_report(household_id=household.pk, year=2024).summary
    assert (summary.net_short_term, summary.net_long_term, summary.net_gain) == (
        D("-6000.00"),
        D("500.00"),
        D("-5500.00"),
    )
    # Worksheet: 6,000 short-term loss less (3,000 deducted + 500 long-term gain) = 2,500.
    assert (
        summary.deductible_loss,
        summary.short_term_carryforward,
        summary.long_term_carryforward,
    ) == (
        D("3000.00"),
        D("2500.00"),
        D("0"),
    )


def test_summary_married_filing_separately_uses_1500(household):
    household.filing_status = FilingStatus.MARRIED_SEPARATE
    household.save()
    # 2023: -3,500 net, 1,500 deducted, 2,000 long-term carried.
    report = tax_report(household_id=household.pk, year=2024)
    assert report.loss_limit == D("1500.00")
    s = report.summary
    assert (s.short_term_carryover_in, s.long_term_carryover_in) == (D("0"), D("2000.00"))
    assert (s.net_short_term, s.net_long_term) == (D("-6000.00"), D("-1000.00"))
    assert (s.deductible_loss, s.short_term_carryforward, s.long_term_carryforward) == (
        D("1500.00"),
        D("4500.00"),
        D("1000.00"),
    )


def test_years_without_sales_still_use_up_the_carryover():
    household = HouseholdFactory(loss_carryforward_short=D("10000.00"))
    taxable = AccountFactory(household=household)
    realised(taxable, "GAP", sold_on=d(2022, 6, 1), proceeds="2000", basis="1000")
    # 2022: +1,000 - 10,000 = -9,000 -> 6,000 carried; 2023 (no sales): 3,000 carried.
    assert capital_loss_carryover_into(household=household, year=2023) == (D("6000.00"), D("0"))
    summary = tax_report(household_id=household.pk, year=2024).summary
    assert summary.short_term_carryover_in == D("3000.00")
    assert (summary.deductible_loss, summary.short_term_carryforward) == (D("3000.00"), D("0"))


def test_household_without_sales_carries_its_own_carryforward():
    household = HouseholdFactory(
        loss_carryforward_short=D("800.00"), loss_carryforward_long=D("5000.00")
    )
    report = tax_report(household_id=household.pk, year=2024)
    assert not report.part_i.lines and not report.part_ii.lines
    s = report.summary
    assert (s.short_term_carryover_in, s.long_term_carryover_in) == (D("800.00"), D("5000.00"))
    assert (s.deductible_loss, s.short_term_carryforward, s.long_term_carryforward) == (
        D("3000.00"),
        D("0"),
        D("2800.00"),
    )


def sections(text):
    """The CSV's blocks (separated by blank rows) as lists of rows."""
    blocks, current = [], []
    for row in csv.reader(io.StringIO(text)):
        if not row:
            blocks.append(current)
            current = []
        else:
            current.append(row)
    blocks.append(current)
    return blocks


def test_csv_parses_back(household):
    text = tax_report_csv(tax_report(household_id=household.pk, year=2024))
    heading, part_i, part_ii, summary = sections(text)
    assert heading[1:] == [
        ["Household", "Okafor"],
        ["Tax year", "2024"],
        ["Filing status", "single"],
    ]
    assert part_i[0][0] == "Part I" and part_i[2] == list(FORM_8949_COLUMNS)
    assert part_i[1] == [
        "Box A",
        "Short-term, reported on Form 1099-B with basis reported to the IRS",
    ]
    assert part_i[3] == [
        "100 sh XYZ",
        "2024-01-10",
        "2024-03-01",
        "750.00",
        "1000.00",
        "W",
        "250.00",
        "0.00",
    ]
    assert part_i[4] == [
        "10 sh AAA",
        "2024-01-02",
        "2024-05-01",
        "1000.00",
        "7000.00",
        "",
        "",
        "-6000.00",
    ]
    assert part_i[-1] == [
        "Totals (Schedule D line 1b)",
        "",
        "",
        "1750.00",
        "8000.00",
        "",
        "250.00",
        "-6000.00",
    ]
    assert part_ii[0][0] == "Part II" and part_ii[1][0] == "Box D" and len(part_ii) == 5
    assert part_ii[-1][0] == "Totals (Schedule D line 8b)"
    assert part_ii[-1][-1] == "1000.00"
    assert summary[1] == ["Item", "Description", "Amount"]
    amounts = {row[0]: D(row[2]) for row in summary[2:]}
    assert list(amounts) == [key for key, _ in SUMMARY_ITEMS]
    assert amounts["loss_limit"] == D("3000") and amounts["short_term_carryforward"] == D("2500")
    assert amounts["long_term_carryover_in"] == D("500")


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_csv_text_that_would_start_a_formula_is_quoted(start):
    assert csv_text(f"{start}1+2") == f"'{start}1+2"
    assert csv_text(f"Okafor {start}1") == f"Okafor {start}1"
    assert csv_text("") == ""


def test_csv_neutralises_formulas_in_names_but_not_in_amounts(household):
    household.name = '=HYPERLINK("http://evil.example","x")'
    household.save(update_fields=["name"])
    text = tax_report_csv(tax_report(household_id=household.pk, year=2024))
    heading, part_i, _, _ = sections(text)
    assert heading[1] == ["Household", '\'=HYPERLINK("http://evil.example","x")']
    assert part_i[4][-1] == "-6000.00" and part_i[-1][-1] == "-6000.00"  # losses stay numbers
    out = StringIO()
    call_command("tax_report", "--household", household.name, "--year", "2024", stdout=out)
    assert out.getvalue() == text


def test_json_is_stable_and_round_trips(household):
    data = json.loads(json.dumps(tax_report_json(tax_report(household_id=household.pk, year=2024))))
    assert data["format"] == JSON_FORMAT and data["tax_year"] == 2024
    assert data["household"]["name"] == "Okafor" and data["filing_status"] == "single"
    row = data["part_i"]["rows"][0]
    assert row == {
        "description": "100 sh XYZ",
        "symbol": "XYZ",
        "quantity": "100",
        "account_id": row["account_id"],
        "account": "Brokerage",
        "date_acquired": "2024-01-10",
        "date_sold": "2024-03-01",
        "proceeds": "750.00",
        "cost_basis": "1000.00",
        "adjustment_code": "W",
        "adjustment_amount": "250.00",
        "gain_or_loss": "0.00",
        "box": "A",
    }
    assert data["part_i"]["totals"] == {
        "proceeds": "1750.00",
        "cost_basis": "8000.00",
        "adjustment_amount": "250.00",
        "gain_or_loss": "-6000.00",
    }
    assert data["part_i"]["boxes"] == [
        {
            "box": "A",
            "title": "Short-term, reported on Form 1099-B with basis reported to the IRS",
            "schedule_d_line": "1b",
            "totals": data["part_i"]["totals"],
        }
    ]
    assert data["part_ii"]["term"] == "long" and len(data["part_ii"]["rows"]) == 1
    assert data["summary"]["deductible_loss"] == "3000.00"
    assert set(data["summary"]) == {key for key, _ in SUMMARY_ITEMS}


def test_command_prints_csv_and_json(household):
    out = StringIO()
    call_command(
        "tax_report", "--household", "Okafor", "--year", "2024", "--format", "json", stdout=out
    )
    assert json.loads(out.getvalue())["summary"]["short_term_carryforward"] == "2500.00"
    out = StringIO()
    call_command("tax_report", "--household", "Okafor", "--year", "2024", stdout=out)
    assert sections(out.getvalue())[1][3][0] == "100 sh XYZ"


def test_unknown_household_and_bad_year():
    with pytest.raises(CommandError, match="no household named 'Nobody'"):
        call_command("tax_report", "--household", "Nobody", "--year", "2024", stdout=StringIO())
    household = HouseholdFactory()
    with pytest.raises(CommandError, match="tax year must be between"):
        call_command(
            "tax_report", "--household", household.name, "--year", "20245", stdout=StringIO()
        )
    with pytest.raises(InvalidInput):
        tax_report(household_id=household.pk, year=0)
    with pytest.raises(NotFound):
        tax_report(household_id=household.pk + 1000, year=2024)


def test_lots_are_boxed_by_when_and_how_they_were_acquired():
    """Shares transferred in from before basis reporting began (an ETF bought in 2009, stock in
    2010) sell into boxes B and E; a 2011 stock lot and a platform purchase into A and D. The
    transfer statement's word, when given, overrides the date."""
    household = HouseholdFactory(name="Lindqvist")
    account = AccountFactory(
        household=household, cash=D("100000.00"), name="Brokerage", lot_method=LotMethod.FIFO
    )
    fund = AssetFactory(symbol="VTI", security_type=SecurityType.ETF)
    stock = AssetFactory(symbol="ACME", security_type=SecurityType.STOCK)

    def transfer(asset, acquired_on, **kw):
        return holding_transfer_in(
            account=account,
            asset=asset,
            quantity_=D("10"),
            cost_basis=D("500.00"),
            acquired_on=acquired_on,
            **kw,
        )

    lots = [
        transfer(fund, d(2009, 5, 1)),
        transfer(fund, d(2011, 6, 1)),  # fund shares: covered only from 2012
        transfer(stock, d(2010, 12, 31)),
        transfer(stock, d(2011, 1, 3)),
        transfer(stock, d(2015, 1, 5), basis_reported=False),  # the transfer statement says so
    ]
    assert [lot.basis_reported for lot in lots] == [False, False, False, True, False]
    trade_apply(
        account_id=account.pk,
        symbol="VTI",
        side="buy",
        quantity=D("10"),
        price=D("60"),
        trade_date=d(2024, 2, 1),
    )
    for symbol in ("VTI", "ACME"):
        trade_apply(
            account_id=account.pk,
            symbol=symbol,
            side="sell",
            quantity=D("30"),
            price=D("70"),
            trade_date=d(2024, 6, 3),
        )
    report = tax_report(household_id=household.pk, year=2024)
    boxes = {
        section.box.value: sorted(line.date_acquired.isoformat() for line in section.lines)
        for part in (report.part_i, report.part_ii)
        for section in part.sections
    }
    assert boxes == {
        "A": ["2024-02-01"],
        "D": ["2011-01-03"],
        "E": ["2009-05-01", "2010-12-31", "2011-06-01", "2015-01-05"],
    }
    (e,) = [s for s in report.part_ii.sections if s.box.value == "E"]
    assert e.schedule_d_line == "9" and e.totals.gain_or_loss == D("800.00")
    assert report.part_ii.totals.gain_or_loss == D("1000.00")
    text = tax_report_csv(report)
    blocks = [block for block in sections(text) if block and block[0][0].startswith("Part")]
    assert [block[1][0] for block in blocks] == ["Box A", "Box D", "Box E"]
    assert [block[-1][0] for block in blocks] == [
        "Totals (Schedule D line 1b)",
        "Totals (Schedule D line 8b)",
        "Totals (Schedule D line 9)",
    ]


def test_the_migration_marks_lots_acquired_before_basis_reporting():
    """Lots recorded before the flag existed get it from their acquisition date and type."""
    from importlib import import_module

    from django.apps import apps

    migration = import_module("portfolios.migrations.0008_basis_reported")
    fund = AssetFactory(symbol="VTI", security_type=SecurityType.ETF)
    stock = AssetFactory(symbol="ACME", security_type=SecurityType.STOCK)
    cases = [
        (fund, d(2011, 12, 30), False),
        (fund, d(2012, 1, 3), True),
        (stock, d(2010, 12, 31), False),
        (stock, d(2011, 1, 3), True),
    ]
    rows = [
        RealizedLotFactory(
            lot=TaxLotFactory(asset=asset, acquired_on=day, holding_period_start=day),
            acquired_on=day,
            holding_period_start=day,
        )
        for asset, day, _ in cases
    ]
    migration.mark_non_covered(apps, None)
    for row, (_, _, expected) in zip(rows, cases, strict=True):
        row.refresh_from_db()
        row.lot.refresh_from_db()
        assert (row.basis_reported, row.lot.basis_reported) == (expected, expected)
