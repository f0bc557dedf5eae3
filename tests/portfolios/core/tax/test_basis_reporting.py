"""Covered securities by acquisition date, the Form 8949 box of a sale, and rows split by box."""

import datetime as dt
from decimal import Decimal

import pytest

from portfolios.core.tax import (
    AccountSpec,
    Buy,
    Form8949Box,
    RealisedLot,
    Sell,
    Term,
    basis_reported_by_date,
    close_lots,
    form_8949,
    form_8949_box,
    open_lot,
    replay_household,
)

D = Decimal
d = dt.date


@pytest.mark.parametrize(
    ("acquired_on", "fund", "expected"),
    [
        (d(2010, 12, 31), False, False),
        (d(2011, 1, 1), False, True),
        (d(2011, 1, 1), True, False),  # fund shares are covered a year later
        (d(2011, 12, 31), True, False),
        (d(2012, 1, 1), True, True),
        (d(1990, 6, 1), False, False),
        (d(2025, 6, 1), True, True),
    ],
)
def test_covered_from_2011_for_stock_and_2012_for_funds(acquired_on, fund, expected):
    assert basis_reported_by_date(acquired_on, fund=fund) is expected


@pytest.mark.parametrize(
    ("term", "reported", "box", "line"),
    [
        (Term.SHORT, True, Form8949Box.A, "1b"),
        (Term.SHORT, False, Form8949Box.B, "2"),
        (Term.LONG, True, Form8949Box.D, "8b"),
        (Term.LONG, False, Form8949Box.E, "9"),
    ],
)
def test_box_follows_term_and_basis_reporting(term, reported, box, line):
    assert form_8949_box(term, basis_reported=reported) is box
    rows = [
        RealisedLot(
            record_id="r1",
            sale_id="s1",
            lot_id="l1",
            acquisition_id="l1",
            account_id="a",
            symbol="XYZ",
            quantity=D("1"),
            acquired_on=d(2024, 1, 2),
            holding_acquired_on=d(2024, 1, 2),
            sold_on=d(2024, 3, 1),
            proceeds=D("10.00"),
            cost_basis=D("12.00"),
            term=term,
            basis_reported=reported,
        )
    ]
    (section,) = form_8949(rows, year=2024).sections
    assert section.box is box and section.schedule_d_line == line


def test_a_sale_takes_each_lots_reporting_and_the_form_splits_by_box():
    """Two lots of one security sold together, one covered and one not: one row in box A, one in
    box B, each box with its own totals, and the part's totals their sum."""
    old = open_lot(
        lot_id="old",
        account_id="a",
        symbol="XYZ",
        quantity=D("10"),
        price=D("20"),
        acquired_on=d(2024, 1, 2),
        basis_reported=False,
    )
    new = open_lot(
        lot_id="new",
        account_id="a",
        symbol="XYZ",
        quantity=D("10"),
        price=D("30"),
        acquired_on=d(2024, 2, 1),
    )
    closing = close_lots(
        [old, new], quantity=D("20"), sale_price=D("25"), sale_date=d(2024, 6, 3), sale_id="s"
    )
    assert [(row.lot_id, row.form_8949_box) for row in closing.closures] == [
        ("old", Form8949Box.B),
        ("new", Form8949Box.A),
    ]
    report = form_8949(closing.closures, year=2024)
    a, b = report.sections
    assert (a.box, [row.lot_id for row in a.rows]) == (Form8949Box.A, ["new"])
    assert (b.box, [row.lot_id for row in b.rows]) == (Form8949Box.B, ["old"])
    assert (a.totals.gain_or_loss, b.totals.gain_or_loss) == (D("-50.00"), D("50.00"))
    assert report.short_term_totals.gain_or_loss == D("0.00")


def test_a_lot_left_after_a_partial_sale_keeps_its_reporting():
    lot = open_lot(
        lot_id="old",
        account_id="a",
        symbol="XYZ",
        quantity=D("10"),
        price=D("20"),
        acquired_on=d(2009, 1, 2),
        basis_reported=False,
    )
    closing = close_lots([lot], quantity=D("4"), sale_price=D("25"), sale_date=d(2024, 6, 3))
    (row,) = closing.closures
    (rest,) = closing.remaining
    assert row.form_8949_box is Form8949Box.E and rest.basis_reported is False


def test_a_replayed_buy_is_covered_by_its_date_unless_it_says_otherwise():
    """The pure replay opens each lot covered or not as the live ledger does: by the trade date
    (stock from 2011, fund shares from 2012) unless the buy states it, so a sale of shares bought
    in 2011 lands in box E for a fund and box D for a stock."""
    buys = [
        Buy("fund-2011", "a", "FND", d(2011, 6, 1), D("10"), D("20")),
        Buy("stock-2011", "a", "STK", d(2011, 6, 1), D("10"), D("20")),
        Buy("fund-2012", "a", "FND2", d(2012, 6, 1), D("10"), D("20")),
        Buy("stated", "a", "OLD", d(2005, 6, 1), D("10"), D("20"), basis_reported=True),
    ]
    sells = [Sell(f"sell-{b.symbol}", "a", b.symbol, d(2024, 6, 3), D("10"), D("25")) for b in buys]
    ledger = replay_household([*buys, *sells], accounts=[AccountSpec("a")], stocks={"STK"})
    boxes = {row.symbol: row.form_8949_box for row in ledger.realised}
    assert boxes == {
        "FND": Form8949Box.E,
        "STK": Form8949Box.D,
        "FND2": Form8949Box.D,
        "OLD": Form8949Box.D,
    }
