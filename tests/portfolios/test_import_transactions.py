"""Importing a transaction history: lots, wash sales, funding, every bad row, idempotency."""

import datetime as dt
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from portfolios.core.errors import InvalidInput
from portfolios.ledger import trade_apply
from portfolios.models import (
    Account,
    AccountType,
    Asset,
    Household,
    Position,
    RealizedLot,
    TaxLot,
    Transaction,
    TransactionKind,
    WashSale,
)
from portfolios.tax_reports import tax_report
from portfolios.transaction_import import FUNDING_DESCRIPTION, transaction_file_import
from tests.factories import AccountFactory, AssetFactory, HouseholdFactory

pytestmark = pytest.mark.django_db
D = Decimal

HEADER = "date,account,account_type,symbol,side,quantity,price,fees,lot_id,amount\n"

VALID = HEADER + (
    "2023-01-03,Brokerage,taxable,,deposit,,,,,5000\n"  # 2
    "2023-01-03,Brokerage,,AAA,buy,100,50,,,\n"  # 3: uses all the cash
    "2023-02-01,Brokerage,,AAA,buy,50,60,1,,-3001.00\n"  # 4: needs 3,001 of funding
    "2023-01-05,Retirement,ira,,deposit,,,,,10000\n"  # 5
    "2024-03-01,Brokerage,,AAA,sell,50,55,,line:4,\n"  # 6: the 2023-02-01 lot, not FIFO's
    "2024-06-03,Brokerage,,BBB,buy,10,100,,,\n"  # 7
    "2024-09-03,Brokerage,,BBB,sell,10,80,,,\n"  # 8: a $200 loss...
    "2024-09-10,Retirement,,BBB,buy,10,85,,,\n"  # 9: ...washed for good by the IRA
    "2024-10-01,Brokerage,,AAA,sell,100,45,,,\n"  # 10: FIFO, the rest
    "2024-11-01,Brokerage,,AAA,dividend,,,,,12.50\n"  # 11
    "2024-12-02,Brokerage,,,withdrawal,,,,,100\n"  # 12
)

MODELS = (Household, Account, Asset, Transaction, TaxLot, RealizedLot, WashSale, Position)


def counts():
    return {model.__name__: model.objects.count() for model in MODELS}


def run(tmp_path, text, household="Import Family", name="history.csv"):
    path = tmp_path / name
    path.write_text(text)
    out, err = StringIO(), StringIO()
    call_command(
        "import_transactions",
        str(path),
        "--household",
        household,
        "--no-progress",
        stdout=out,
        stderr=err,
    )
    return out.getvalue(), err.getvalue()


def failing(tmp_path, text, household="Import Family"):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    err = StringIO()
    with pytest.raises(CommandError) as info:
        call_command(
            "import_transactions",
            str(path),
            "--household",
            household,
            "--no-progress",
            stdout=StringIO(),
            stderr=err,
        )
    lines = {}
    for message in err.getvalue().splitlines():
        line, text = message.removeprefix(f"{path}:").split(": ", 1)
        lines.setdefault(int(line), []).append(text)
    return str(info.value), lines


@pytest.fixture
def assets():
    return [AssetFactory(symbol=symbol) for symbol in ("AAA", "BBB", "CCC")]


def test_valid_history_builds_the_books(tmp_path, assets):
    out, _ = run(tmp_path, VALID)
    assert "Imported 11 transactions" in out and "New accounts: Brokerage, Retirement" in out
    household = Household.objects.get(name="Import Family")
    brokerage = Account.objects.get(household=household, name="Brokerage")
    ira = Account.objects.get(household=household, name="Retirement")
    assert (brokerage.account_type, ira.account_type) == (AccountType.TAXABLE, AccountType.IRA)

    specific = RealizedLot.objects.get(sold_on=dt.date(2024, 3, 1))
    assert specific.acquired_on == dt.date(2023, 2, 1) and specific.term == "long"
    assert (specific.proceeds, specific.cost_basis, specific.gain) == (
        D("2750.00"),
        D("3001.00"),
        D("-251.00"),
    )
    washed = RealizedLot.objects.get(asset__symbol="BBB")
    assert (washed.adjustment_code, washed.adjustment_amount, washed.gain) == (
        "W",
        D("200.00"),
        D("0.00"),
    )
    assert WashSale.objects.get().permanent  # replaced in the IRA: lost for good
    ira_lot = TaxLot.objects.get(account=ira, quantity__gt=0)
    assert (ira_lot.cost_basis, ira_lot.wash_sale_adjustment) == (D("850.00"), D("0.00"))
    fifo = RealizedLot.objects.get(sold_on=dt.date(2024, 10, 1))
    assert fifo.acquired_on == dt.date(2023, 1, 3) and fifo.gain == D("-500.00")
    assert not TaxLot.objects.filter(account=brokerage, quantity__gt=0).exists()
    assert Position.objects.get(account=ira, asset__symbol="BBB").quantity == D("10")

    funding = Transaction.objects.get(description=FUNDING_DESCRIPTION)
    assert (funding.kind, funding.amount, funding.trade_date) == (
        TransactionKind.DEPOSIT,
        D("3001.00"),
        dt.date(2023, 2, 1),
    )
    brokerage.refresh_from_db()
    ira.refresh_from_db()
    # 5,000 + 3,001 - 5,000 - 3,001 + 2,750 - 1,000 + 800 + 4,500 + 12.50 - 100
    assert brokerage.cash == D("6962.50") and ira.cash == D("9150.00")

    report = tax_report(household_id=household.pk, year=2024)
    assert [
        (line.symbol, line.adjustment_code, line.gain_or_loss) for line in report.part_i.lines
    ] == [("BBB", "W", D("0.00"))]
    assert [line.gain_or_loss for line in report.part_ii.lines] == [D("-251.00"), D("-500.00")]
    assert (report.summary.net_long_term, report.summary.deductible_loss) == (
        D("-751.00"),
        D("751.00"),
    )


def test_importing_the_same_file_twice_changes_nothing(tmp_path, assets):
    run(tmp_path, VALID)
    before = counts()
    cash = list(Account.objects.order_by("pk").values_list("cash", flat=True))
    out, _ = run(tmp_path, VALID)
    assert "already imported" in out and "nothing changed" in out
    assert counts() == before
    assert list(Account.objects.order_by("pk").values_list("cash", flat=True)) == cash
    # The same file for another household is a different import.
    run(tmp_path, VALID, household="Other Family")
    assert Household.objects.count() == 2


def test_existing_holdings_and_lots_count(tmp_path, assets):
    household = HouseholdFactory(name="Import Family")
    account = AccountFactory(household=household, name="Brokerage", cash=D("10000.00"))
    first = trade_apply(
        account_id=account.pk,
        symbol="CCC",
        side="buy",
        quantity=D(10),
        price=D(20),
        trade_date=dt.date(2022, 1, 3),
    )
    trade_apply(
        account_id=account.pk,
        symbol="CCC",
        side="buy",
        quantity=D(10),
        price=D(30),
        trade_date=dt.date(2022, 2, 1),
    )
    lot = first.lots[0]
    run(tmp_path, HEADER + f"2024-01-10,Brokerage,,CCC,sell,4,35,,{lot.pk},\n")
    (row,) = RealizedLot.objects.all()
    assert row.lot_id == lot.pk and row.cost_basis == D("80.00")
    account.refresh_from_db()
    assert account.cash == D("9640.00")  # no funding needed: 10,000 - 200 - 300 + 140


def test_every_bad_row_is_listed_and_nothing_is_written(tmp_path, assets):
    other = HouseholdFactory(name="Someone Else")
    other_account = AccountFactory(household=other, name="Brokerage")
    foreign = trade_apply(
        account_id=other_account.pk,
        symbol="AAA",
        side="buy",
        quantity=D(1),
        price=D(10),
        trade_date=dt.date(2023, 1, 3),
    ).lots[0]
    household = HouseholdFactory(name="Import Family")
    account = AccountFactory(household=household, name="Brokerage", cash=D("1000.00"))
    AccountFactory(household=household, name="Savings", cash=D("50.00"))
    trade_apply(
        account_id=account.pk,
        symbol="AAA",
        side="buy",
        quantity=D(10),
        price=D(10),
        trade_date=dt.date(2023, 1, 3),
    )
    before = counts()
    text = HEADER + (
        "2024-01-02,Brokerage,,AAA,sell,8,12,,,\n"  # 2 fine: 8 of the 10 held
        "2024-01-03,Brokerage,,AAA,sell,5,12,,,\n"  # 3 only 2 left
        "2024-01-04,Brokerage,,ZZZ,buy,1,10,,,\n"  # 4 unknown symbol
        "2024-01-05,Brokerage,,BBB,buy,0,10,,,\n"  # 5 zero quantity
        "2024-01-05,Brokerage,,BBB,buy,1,-3,,,\n"  # 6 negative price
        "2099-01-05,Brokerage,,BBB,buy,1,10,,,\n"  # 7 future
        "2024-01-06,Brokerage,,BBB,buy,abc,10,,,\n"  # 8 malformed number
        "2024-13-01,Brokerage,,BBB,buy,1,10,,,\n"  # 9 malformed date
        "2024-01-06,Brokerage,,BBB,transfer,1,10,,,\n"  # 10 unknown side
        "2024-01-06,New One,401k,BBB,buy,1,10,,,\n"  # 11 unknown account type
        "2024-01-07,Brokerage,,AAA,sell,1,12,,999999,\n"  # 12 no such lot
        f"2024-01-07,Brokerage,,AAA,sell,1,12,,{foreign.pk},\n"  # 13 another household's lot
        "2024-01-08,Brokerage,,CCC,buy,3,10,,,\n"  # 14 fine (funded)
        "2024-01-09,Brokerage,,BBB,sell,1,12,,line:14,\n"  # 15 that lot is CCC
        "2024-01-09,Brokerage,,CCC,sell,1,12,,line:2,\n"  # 16 line 2 is a sell
        "2024-01-09,Savings,taxable,,withdrawal,,,,,50.01\n"  # 17 more than the cash
        "2024-01-09,Fresh,,CCC,buy,1,10,,,\n"  # 18 new account without a type
        "2024-01-10,Brokerage,,CCC,sell,1,12,,line:21,\n"  # 19 lot bought later
        "2024-01-10,Brokerage,,CCC,dividend,,,,,\n"  # 20 dividend without amount
        "2024-01-11,Brokerage,,CCC,buy,1,10,,,\n"  # 21 fine
    )
    message, lines = failing(tmp_path, text)
    assert "17 bad row(s)" in message and "nothing was imported" in message
    assert sorted(lines) == [3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 15, 16, 17, 18, 19, 20]
    expected = {
        3: "cannot sell 5 AAA from Brokerage on 2024-01-03: only 2 held then",
        4: "unknown symbol ZZZ",
        5: "quantity must be positive, got 0",
        6: "price must be positive, got -3",
        7: "date 2099-01-05 is in the future",
        8: "quantity 'abc' is not a number",
        9: "date '2024-13-01' is not a date",
        10: "side 'transfer' is not one of buy, sell, deposit, withdrawal, dividend",
        11: "account_type '401k' is not one of taxable, ira, roth",
        12: "lot_id 999999: there is no lot 999999",
        13: f"lot_id {foreign.pk} is not a lot of AAA in Brokerage",
        15: "lot_id line:14 is a buy of CCC in Brokerage, not of BBB in Brokerage",
        16: "lot_id line:2: line 2 is a sell row, not a buy",
        17: "withdrawing 50.01 from Savings on 2024-01-09 leaves a negative cash balance",
        18: "account 'Fresh' is new: give its account_type",
        19: "lot_id line:21 is bought on 2024-01-11 (line 21), after this sale",
        20: "amount is empty (a dividend needs one)",
    }
    for line, text_start in expected.items():
        assert any(m.startswith(text_start) for m in lines[line]), (line, lines[line])
    assert counts() == before


def test_file_level_problems(tmp_path, assets):
    before = counts()
    message, _ = failing(tmp_path, "date,account,side,symbol,quantity\n2024-01-02,A,buy,AAA,1\n")
    assert "missing column(s): price" in message
    message, _ = failing(tmp_path, HEADER.replace("lot_id", "lotid"))
    assert "unknown column(s): lotid" in message
    message, _ = failing(tmp_path, HEADER)
    assert "the file has no transactions" in message
    assert counts() == before


def test_a_buy_with_too_little_cash_is_funded_and_a_bad_amount_is_caught(assets):
    content = (HEADER + "2024-01-02,Taxable,taxable,AAA,buy,10,10,1,,101.00\n").encode()
    result = transaction_file_import(
        content=content, household_name="Funded", today=dt.date(2024, 6, 1)
    )
    assert (result.funding_deposits, result.funding_total) == (1, D("101.00"))
    assert Account.objects.get(name="Taxable").cash == D("0.00")
    with pytest.raises(InvalidInput) as info:
        transaction_file_import(
            content=(HEADER + "2024-01-02,Taxable,,AAA,sell,10,10,1,,100.00\n").encode(),
            household_name="Funded",
            today=dt.date(2024, 6, 1),
        )
    assert info.value.details == [
        {"line": 2, "message": "amount 100.00 does not match quantity x price - fees = 99.00"}
    ]


def test_out_of_range_dates_and_lot_ids_are_bad_rows(assets):
    # Each used to be a 500: a lot id past 64 bits overflowed the lookup (on SQLite), a buy on
    # 0001-01-01 the wash-sale window around it.
    text = HEADER + (
        "0001-01-01,Brokerage,taxable,AAA,buy,1,10,,,\n"  # 2 before 1900
        "1899-12-31,Brokerage,,AAA,buy,1,10,,,\n"  # 3 before 1900
        "1900-01-01,Brokerage,,AAA,buy,1,10,,,\n"  # 4 fine: the earliest date
        "2024-01-02,Brokerage,,AAA,sell,1,12,,99999999999999999999999,\n"  # 5 past 64 bits
        "2024-01-02,Brokerage,,AAA,sell,1,12,,9223372036854775808,\n"  # 6 just past
        "2024-01-02,Brokerage,,AAA,sell,1,12,,\u00b2,\n"  # 7 "²".isdigit()
    )
    before = counts()
    with pytest.raises(InvalidInput) as info:
        transaction_file_import(
            content=text.encode(), household_name="Old Family", today=dt.date(2024, 6, 1)
        )
    assert info.value.field == "file"
    messages = {row["line"]: row["message"] for row in info.value.details}
    assert sorted(messages) == [2, 3, 5, 6, 7]
    assert messages[2] == "date 0001-01-01 is before 1900-01-01"
    assert messages[3] == "date 1899-12-31 is before 1900-01-01"
    for line, token in ((5, "99999999999999999999999"), (6, "9223372036854775808"), (7, "\u00b2")):
        assert messages[line].startswith(f"lot_id {token!r} is neither line:<N>"), messages[line]
    assert counts() == before


def test_a_bad_row_does_not_cascade_into_false_errors(tmp_path, assets):
    text = HEADER + (
        "2024-01-02,Brokerage,taxable,AAA,buy,ten,10,,,\n"  # 2 the only real problem
        "2024-01-03,Brokerage,,AAA,sell,10,12,,line:2,\n"  # 3 would be "only 0 held"
        "2024-01-04,Brokerage,,,withdrawal,,,,,1\n"  # 4 would be "negative cash"
        "2024-01-05,Brokerage,,BBB,sell,1,12,,,\n"  # 5 still checked: nothing held
    )
    message, lines = failing(tmp_path, text)
    assert "2 bad row(s)" in message
    assert lines == {
        2: ["quantity 'ten' is not a number"],
        5: [
            "cannot sell 1 BBB from Brokerage on 2024-01-05: only 0 held then "
            "(counting current holdings and the rows before this one)"
        ],
    }
    assert not Household.objects.filter(name="Import Family").exists()
