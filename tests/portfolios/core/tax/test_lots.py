"""Lots: selection methods, exact splitting, proceeds allocation and validation."""

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portfolios.core.errors import InvalidInput
from portfolios.core.tax import (
    LotMethod,
    TaxRates,
    Term,
    allocate_cash,
    close_lots,
    open_lot,
)

D = Decimal
d = dt.date


def lot(lot_id, quantity, price, acquired, symbol="XYZ", account="T"):
    return open_lot(
        lot_id=lot_id,
        account_id=account,
        symbol=symbol,
        quantity=D(quantity),
        price=D(price),
        acquired_on=acquired,
    )


@pytest.fixture
def position():
    """Four lots of XYZ; sold at $50 on 2024-06-03."""
    return [
        lot("old_gain", 10, 20, d(2020, 1, 2)),  # long-term gain of $30/sh
        lot("old_loss", 10, 70, d(2021, 1, 4)),  # long-term loss of $20/sh
        lot("new_loss", 10, 55, d(2024, 1, 2)),  # short-term loss of $5/sh
        lot("new_gain", 10, 40, d(2024, 2, 1)),  # short-term gain of $10/sh
    ]


def closed_ids(closing):
    return [(c.lot_id, c.quantity) for c in closing.closures]


def sell(position, quantity, method, **kwargs):
    return close_lots(
        position,
        quantity=D(quantity),
        sale_price=D(50),
        sale_date=d(2024, 6, 3),
        method=method,
        **kwargs,
    )


def test_fifo_closes_oldest_first(position):
    closing = sell(position, 15, LotMethod.FIFO)
    assert closed_ids(closing) == [("old_gain", D(10)), ("old_loss", D(5))]
    assert [(lot.lot_id, lot.quantity) for lot in closing.remaining] == [
        ("old_loss", D(5)),
        ("new_loss", D(10)),
        ("new_gain", D(10)),
    ]


def test_hifo_closes_highest_cost_first(position):
    closing = sell(position, 15, LotMethod.HIFO)
    assert closed_ids(closing) == [("old_loss", D(10)), ("new_loss", D(5))]


def test_specific_identification_closes_named_lots_in_order(position):
    closing = sell(position, 15, LotMethod.SPECIFIC, specific_lot_ids=["new_gain", "old_gain"])
    assert closed_ids(closing) == [("new_gain", D(10)), ("old_gain", D(5))]


def test_tax_minimising_without_rates_takes_losses_then_long_term_gains(position):
    closing = sell(position, 40, LotMethod.TAX_MINIMISING)
    # Short-term losses, long-term losses, long-term gains, short-term gains.
    assert [c.lot_id for c in closing.closures] == ["new_loss", "old_loss", "old_gain", "new_gain"]


def test_tax_minimising_with_rates_orders_by_tax_per_share(position):
    rates = TaxRates(short_term=D("0.37"), long_term=D("0.20"))
    closing = sell(position, 40, LotMethod.TAX_MINIMISING, rates=rates)
    # Tax per share: old_loss -4.00, new_loss -1.85, new_gain +3.70, old_gain +6.00.
    assert [c.lot_id for c in closing.closures] == ["old_loss", "new_loss", "new_gain", "old_gain"]


def test_methods_differ_on_the_same_sale(position):
    gains = {
        method: sum(c.gain_or_loss for c in sell(position, 10, method).closures)
        for method in (LotMethod.FIFO, LotMethod.HIFO, LotMethod.TAX_MINIMISING)
    }
    assert gains == {
        LotMethod.FIFO: D("300.00"),
        LotMethod.HIFO: D("-200.00"),
        LotMethod.TAX_MINIMISING: D("-50.00"),
    }


def test_gains_and_losses_in_one_sale_are_separate_rows(position):
    closing = sell(position, 20, LotMethod.FIFO)
    assert [(c.term, c.gain_or_loss) for c in closing.closures] == [
        (Term.LONG, D("300.00")),
        (Term.LONG, D("-200.00")),
    ]


def test_partial_close_splits_basis_exactly():
    # 3 shares for $100.00: $33.333... per share.
    lots = [lot("a", 3, "33.333333", d(2024, 1, 2))]
    assert lots[0].cost_basis == D("100.00")
    closing = close_lots(lots, quantity=D(1), sale_price=D(40), sale_date=d(2024, 2, 1))
    (closure,) = closing.closures
    (rest,) = closing.remaining
    assert closure.cost_basis == D("33.33")
    assert rest.cost_basis == D("66.67")
    assert rest.lot_id == "a"
    assert closure.cost_basis + rest.cost_basis == D("100.00")


def test_proceeds_are_allocated_pro_rata_net_of_fees_to_the_cent():
    lots = [
        lot("a", 1, 10, d(2024, 1, 2)),
        lot("b", 1, 10, d(2024, 1, 3)),
        lot("c", 1, 10, d(2024, 1, 4)),
    ]
    closing = close_lots(
        lots, quantity=D(3), sale_price=D("33.34"), sale_date=d(2024, 2, 1), fees=D("0.01")
    )
    proceeds = [c.proceeds for c in closing.closures]
    assert sum(proceeds) == D("100.01")
    assert proceeds == [D("33.34"), D("33.33"), D("33.34")]


@given(
    total=st.decimals(min_value=0, max_value=10**9, places=2),
    weights=st.lists(
        st.decimals(min_value=D("0.000000001"), max_value=10**6, places=9), min_size=1, max_size=12
    ),
)
def test_allocate_cash_sums_exactly_and_stays_within_a_cent(total, weights):
    parts = allocate_cash(total, weights)
    assert sum(parts) == total
    whole = sum(weights)
    for part, weight in zip(parts, weights, strict=True):
        assert abs(part - total * weight / whole) <= D("0.01")
        assert part >= 0


def test_description_has_no_trailing_zeros():
    lots = [lot("a", "100.000000000", 10, d(2024, 1, 2)), lot("b", "0.5", 10, d(2024, 1, 3))]
    closing = close_lots(lots, quantity=D("100.5"), sale_price=D(11), sale_date=d(2024, 2, 1))
    assert [c.description for c in closing.closures] == ["100 sh XYZ", "0.5 sh XYZ"]


def test_selling_more_than_held_names_the_shortfall(position):
    with pytest.raises(InvalidInput, match="only 40 held"):
        sell(position, 41, LotMethod.FIFO)


def test_specific_lots_must_exist_and_cover_the_quantity(position):
    with pytest.raises(InvalidInput, match="nope"):
        sell(position, 5, LotMethod.SPECIFIC, specific_lot_ids=["nope"])
    with pytest.raises(InvalidInput, match="fewer than"):
        sell(position, 15, LotMethod.SPECIFIC, specific_lot_ids=["old_gain"])


def test_bad_quantities_and_prices_are_rejected():
    with pytest.raises(InvalidInput, match="9 decimal places"):
        lot("a", "0.0000000001", 10, d(2024, 1, 2))
    with pytest.raises(InvalidInput, match="price"):
        lot("a", 1, 0, d(2024, 1, 2))
    with pytest.raises(InvalidInput, match="fees"):
        close_lots(
            [lot("a", 1, 10, d(2024, 1, 2))],
            quantity=D(1),
            sale_price=D(1),
            sale_date=d(2024, 2, 1),
            fees=D(2),
        )


def test_term_uses_the_calendar_rule():
    lots = [lot("a", 1, 10, d(2023, 2, 28))]
    short = close_lots(lots, quantity=D(1), sale_price=D(11), sale_date=d(2024, 2, 29))
    long = close_lots(lots, quantity=D(1), sale_price=D(11), sale_date=d(2024, 3, 1))
    assert short.closures[0].term is Term.SHORT
    assert long.closures[0].term is Term.LONG
