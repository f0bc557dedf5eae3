"""The ledger applies trades through the tax engine: lots, positions, cash and wash sales."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db.models import Sum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portfolios.core.errors import InvalidInput
from portfolios.ledger import PendingOrder, pending_wash_sales_release, trade_apply
from portfolios.models import AccountType, LotMethod, Position, RealizedLot, TaxLot, WashSale
from tests.factories import AccountFactory, AssetFactory, HouseholdFactory

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def household():
    return HouseholdFactory()


@pytest.fixture
def taxable(household):
    return AccountFactory(
        household=household, cash=D("100000.00"), account_type=AccountType.TAXABLE
    )


@pytest.fixture
def ira(household):
    return AccountFactory(household=household, cash=D("100000.00"), account_type=AccountType.IRA)


@pytest.fixture
def xyz():
    return AssetFactory(symbol="XYZ")


def buy(account, symbol, qty, price, day, **kw):
    return trade_apply(
        account_id=account.pk,
        symbol=symbol,
        side="buy",
        quantity=D(qty),
        price=D(price),
        trade_date=day,
        **kw,
    )


def sell(account, symbol, qty, price, day, **kw):
    return trade_apply(
        account_id=account.pk,
        symbol=symbol,
        side="sell",
        quantity=D(qty),
        price=D(price),
        trade_date=day,
        **kw,
    )


def open_quantity(account, asset):
    return TaxLot.objects.filter(account=account, asset=asset).aggregate(q=Sum("quantity"))[
        "q"
    ] or D(0)


def test_publication_550_example(taxable, xyz):
    """Buy 100 for $1,000, sell for $750, buy 100 again within 30 days for $800: $250 disallowed,
    new basis $1,050."""
    buy(taxable, "XYZ", "100", "10", dt.date(2024, 1, 10))
    result = sell(taxable, "XYZ", "100", "7.50", dt.date(2024, 3, 1))
    (row,) = result.realized
    assert (row.proceeds, row.cost_basis, row.gain) == (D("750.00"), D("1000.00"), D("-250.00"))
    buy(taxable, "XYZ", "100", "8", dt.date(2024, 3, 20))
    row.refresh_from_db()
    assert (row.adjustment_code, row.adjustment_amount, row.gain) == ("W", D("250.00"), D("0.00"))
    lot = TaxLot.objects.get(account=taxable, asset=xyz, quantity__gt=0)
    assert lot.cost_basis == D("1050.00") and lot.wash_sale_adjustment == D("250.00")
    # the washed lot was held 51 days (11 Jan to 1 Mar, 2024 is a leap year); tacked on, the
    # replacement counts as acquired 51 days before 20 Mar
    assert lot.holding_period_start == dt.date(2024, 1, 29)
    assert WashSale.objects.get().disallowed_loss == D("250.00")


def test_cash_and_position_follow_the_trades(taxable, xyz):
    buy(taxable, "XYZ", "10", "100", dt.date(2024, 1, 10), fees=D("1.00"))
    taxable.refresh_from_db()
    assert taxable.cash == D("98999.00")
    sell(taxable, "XYZ", "4", "110", dt.date(2024, 2, 10), fees=D("1.00"))
    taxable.refresh_from_db()
    assert taxable.cash == D("99438.00")
    assert Position.objects.get(account=taxable, asset=xyz).quantity == D("6")
    assert open_quantity(taxable, xyz) == D("6")


def test_ira_purchase_washes_a_taxable_loss_for_good(taxable, ira, xyz):
    buy(taxable, "XYZ", "50", "20", dt.date(2024, 1, 2))
    sold = sell(taxable, "XYZ", "50", "15", dt.date(2024, 5, 1)).realized[0]
    buy(ira, "XYZ", "50", "16", dt.date(2024, 5, 10))
    sold.refresh_from_db()
    assert sold.adjustment_amount == D("250.00") and sold.gain == D("0.00")
    ira_lot = TaxLot.objects.get(account=ira, quantity__gt=0)
    assert ira_lot.cost_basis == D("800.00") and ira_lot.wash_sale_adjustment == D("0.00")
    assert WashSale.objects.get().permanent is True


def test_replacement_held_before_the_sale_in_another_account(household, taxable, xyz):
    other = AccountFactory(household=household, cash=D("10000.00"))
    buy(taxable, "XYZ", "10", "50", dt.date(2024, 1, 2))
    buy(other, "XYZ", "4", "45", dt.date(2024, 4, 20))
    sold = sell(taxable, "XYZ", "10", "40", dt.date(2024, 5, 1)).realized[0]
    # 4 of 10 shares replaced: 40% of the $100 loss disallowed, onto the other account's lot
    assert sold.adjustment_amount == D("40.00") and sold.washed_quantity == D("4")
    replacement = TaxLot.objects.get(account=other, quantity__gt=0)
    assert replacement.cost_basis == D("220.00")
    assert open_quantity(other, xyz) == D("4")


def test_identity_group_washes_and_window_edges(taxable):
    AssetFactory(symbol="VOOX", identity_group="sp500")
    AssetFactory(symbol="IVVX", identity_group="sp500")
    buy(taxable, "VOOX", "10", "100", dt.date(2024, 1, 2))
    sold = sell(taxable, "VOOX", "10", "90", dt.date(2024, 6, 3)).realized[0]
    buy(taxable, "IVVX", "5", "91", dt.date(2024, 7, 4))  # day 31: outside the window
    sold.refresh_from_db()
    assert sold.adjustment_amount == D("0.00")
    buy(taxable, "IVVX", "5", "91", dt.date(2024, 7, 3))  # day 30: inside
    sold.refresh_from_db()
    assert sold.adjustment_amount == D("50.00")


def test_pending_order_washes_then_settles_on_fill(taxable, ira, xyz):
    buy(taxable, "XYZ", "10", "50", dt.date(2024, 1, 2))
    pending = PendingOrder(
        order_ref="rp9-001",
        account_id=ira.pk,
        symbol="XYZ",
        quantity=D("10"),
        expected_on=dt.date(2024, 5, 2),
    )
    sold = sell(taxable, "XYZ", "10", "40", dt.date(2024, 5, 1), pending_orders=[pending]).realized[
        0
    ]
    assert sold.adjustment_amount == D("100.00")
    wash = WashSale.objects.get()
    assert wash.pending and wash.replacement_order == "rp9-001"
    buy(ira, "XYZ", "10", "41", dt.date(2024, 5, 2), acquisition_id="rp9-001", external_id="fill-1")
    wash.refresh_from_db()
    assert not wash.pending and wash.replacement_lot.account_id == ira.pk


def test_a_cancelled_pending_order_gives_the_loss_back(taxable, ira, xyz):
    buy(taxable, "XYZ", "10", "50", dt.date(2024, 1, 2))
    pending = PendingOrder(
        order_ref="rp9-002",
        account_id=ira.pk,
        symbol="XYZ",
        quantity=D("10"),
        expected_on=dt.date(2024, 5, 2),
    )
    sold = sell(taxable, "XYZ", "10", "40", dt.date(2024, 5, 1), pending_orders=[pending]).realized[
        0
    ]
    assert pending_wash_sales_release(order_ref="rp9-002") == 1
    sold.refresh_from_db()
    assert (sold.adjustment_amount, sold.adjustment_code, sold.gain) == (
        D("0.00"),
        "",
        D("-100.00"),
    )


def _sold_with_a_pending_replacement(taxable, ref, slices=("100",)):
    """100 XYZ bought at 10 and sold at 7.50 (a 250.00 loss) while the order ``ref``, in live
    slices of the given sizes, is to buy XYZ back."""
    buy(taxable, "XYZ", "100", "10", dt.date(2024, 1, 2))
    pending = [
        PendingOrder(
            order_ref=ref,
            account_id=taxable.pk,
            symbol="XYZ",
            quantity=D(size),
            expected_on=dt.date(2024, 3, 4),
        )
        for size in slices
    ]
    return sell(taxable, "XYZ", "100", "7.50", dt.date(2024, 3, 1), pending_orders=pending)


def test_a_pending_replacement_filled_in_slices_carries_the_whole_disallowed_loss(taxable, xyz):
    """Publication 550: the disallowed loss goes into the replacement shares' basis, however
    many fills buy them; a partial fill keeps the rest of the wash sale pending for the next."""
    (sold,) = _sold_with_a_pending_replacement(taxable, "P1").realized
    first = buy(
        taxable, "XYZ", "40", "8", dt.date(2024, 3, 4), acquisition_id="P1", external_id="f1"
    )
    pending = WashSale.objects.get(pending=True)
    assert (pending.quantity, pending.disallowed_loss) == (D("60"), D("150.00"))
    second = buy(
        taxable, "XYZ", "60", "8", dt.date(2024, 3, 4), acquisition_id="P1", external_id="f2"
    )
    assert not WashSale.objects.filter(pending=True).exists()
    (lot_1,) = first.lots
    (lot_2,) = second.lots
    assert (lot_1.cost_basis, lot_1.wash_sale_adjustment) == (D("420.00"), D("100.00"))
    assert (lot_2.cost_basis, lot_2.wash_sale_adjustment) == (D("630.00"), D("150.00"))
    assert lot_2.holding_period_start == dt.date(2024, 1, 5)  # the sold lot's 59 days tacked on
    sold.refresh_from_db()
    assert (sold.adjustment_code, sold.adjustment_amount, sold.gain) == ("W", D("250.00"), D("0"))


def test_an_order_cancelled_after_a_partial_fill_gives_back_the_unfilled_part(taxable, xyz):
    (sold,) = _sold_with_a_pending_replacement(taxable, "P2").realized
    buy(taxable, "XYZ", "40", "8", dt.date(2024, 3, 4), acquisition_id="P2", external_id="f1")
    assert pending_wash_sales_release(order_ref="P2") == 1
    sold.refresh_from_db()
    assert (sold.adjustment_amount, sold.washed_quantity, sold.gain) == (
        D("100.00"),
        D("40"),
        D("-150.00"),
    )
    assert TaxLot.objects.aggregate(s=Sum("wash_sale_adjustment"))["s"] == D("100.00")


def test_an_order_in_several_live_slices_counts_its_promised_shares_once(taxable, xyz):
    """Two live slices of 50 shares: a first loss sale takes 50 of them, so a second loss sale
    within the window is washed by the other 50."""
    buy(taxable, "XYZ", "100", "10", dt.date(2024, 1, 2))
    slices = [
        PendingOrder(
            order_ref="P3",
            account_id=taxable.pk,
            symbol="XYZ",
            quantity=D("50"),
            expected_on=dt.date(2024, 3, 4),
        )
    ] * 2
    sell(taxable, "XYZ", "50", "7.50", dt.date(2024, 3, 1), pending_orders=slices)
    (second,) = sell(
        taxable, "XYZ", "50", "7.50", dt.date(2024, 3, 2), pending_orders=slices
    ).realized
    assert (second.adjustment_code, second.adjustment_amount) == ("W", D("125.00"))
    assert WashSale.objects.filter(pending=True, replacement_order="P3").count() == 2


def test_hifo_and_specific_identification(taxable, xyz):
    buy(taxable, "XYZ", "10", "10", dt.date(2023, 1, 2))
    second = buy(taxable, "XYZ", "10", "30", dt.date(2023, 2, 2)).lots[0]
    third = buy(taxable, "XYZ", "10", "20", dt.date(2023, 3, 2)).lots[0]
    taxable.lot_method = LotMethod.HIFO
    taxable.save()
    (closed,) = sell(taxable, "XYZ", "10", "25", dt.date(2024, 6, 3)).realized
    assert closed.lot_id == second.pk
    (closed,) = sell(
        taxable, "XYZ", "5", "25", dt.date(2024, 6, 4), specific_lot_ids=[third.pk]
    ).realized
    assert closed.lot_id == third.pk and closed.term == "long"


def test_replaying_an_execution_changes_nothing(taxable, xyz):
    first = buy(taxable, "XYZ", "10", "10", dt.date(2024, 1, 2), external_id="exec-1")
    again = buy(taxable, "XYZ", "10", "10", dt.date(2024, 1, 2), external_id="exec-1")
    assert first.created and not again.created and again.transaction.pk == first.transaction.pk
    assert open_quantity(taxable, xyz) == D("10")


def test_bad_trades_are_refused_and_write_nothing(taxable, xyz):
    with pytest.raises(InvalidInput, match="only 0 held"):
        sell(taxable, "XYZ", "1", "10", dt.date(2024, 1, 2))
    with pytest.raises(InvalidInput, match="no margin"):
        buy(taxable, "XYZ", "100000", "10", dt.date(2024, 1, 2))
    with pytest.raises(InvalidInput, match="unknown symbol"):
        buy(taxable, "NOPE", "1", "10", dt.date(2024, 1, 2))
    assert not TaxLot.objects.exists() and not RealizedLot.objects.exists()


@pytest.mark.parametrize(
    "day", [dt.date.min, dt.date(1899, 12, 31), dt.date(9999, 12, 1), dt.date.max]
)
def test_a_trade_date_outside_the_ledgers_range_is_refused(taxable, xyz, day):
    # The wash-sale window around 0001-01-01 used to overflow datetime.date (a 500).
    for trade in (buy, sell):
        with pytest.raises(InvalidInput) as info:
            trade(taxable, "XYZ", "1", "10", day)
        assert info.value.field == "trade_date"
    assert not TaxLot.objects.exists() and not RealizedLot.objects.exists()
    buy(taxable, "XYZ", "1", "10", dt.date(1900, 1, 1))  # the earliest date is fine
    assert TaxLot.objects.get().acquired_on == dt.date(1900, 1, 1)


trades = st.lists(
    st.tuples(
        st.sampled_from(["buy", "sell"]),
        st.integers(min_value=0, max_value=1),  # account
        st.decimals(min_value=D("0.5"), max_value=D("40"), places=1),
        st.decimals(min_value=D("5"), max_value=D("15"), places=2),
        st.integers(min_value=0, max_value=20),  # days since the previous trade
    ),
    min_size=1,
    max_size=12,
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(trades)
def test_lots_equal_positions_and_gains_reconcile(household, trades):
    """Any sequence: open lots sum to the position; proceeds - basis = gain - disallowed loss."""
    asset = AssetFactory(symbol="PROP")
    accounts = [AccountFactory(household=household, cash=D("1000000.00")) for _ in range(2)]
    day = dt.date(2024, 1, 1)
    for side, which, qty, price, gap in trades:
        day += dt.timedelta(days=gap)
        account = accounts[which]
        held = open_quantity(account, asset)
        if side == "sell":
            qty = min(qty, held)
            if qty <= 0:
                continue
        trade_apply(
            account_id=account.pk,
            symbol="PROP",
            side=side,
            quantity=qty,
            price=price,
            trade_date=day,
        )
        for acc in accounts:
            position = Position.objects.filter(account=acc, asset=asset).first()
            assert open_quantity(acc, asset) == (position.quantity if position else 0)
    for row in RealizedLot.objects.filter(asset=asset):
        assert row.proceeds - row.cost_basis == row.gain - row.adjustment_amount
