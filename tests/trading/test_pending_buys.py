"""The live buy slices that can wash a loss, as the ledger and the harvest scan both read them."""

import datetime as dt
from decimal import Decimal

import pytest

from tests.factories import AccountFactory, AssetFactory
from trading.models import Order, OrderStatus
from trading.services import pending_buy_orders

pytestmark = pytest.mark.django_db
MONDAY = dt.datetime(2025, 6, 30, 15, 0, tzinfo=dt.UTC)


def order(account, asset, ref, *, side="buy", parent=None, quantity="10", filled="0", status):
    return Order.objects.create(
        account=account,
        asset=asset,
        parent=parent,
        side=side,
        order_type="market",
        quantity=Decimal(quantity),
        filled_quantity=Decimal(filled),
        client_order_id=ref,
        status=status,
        scheduled_at=MONDAY,
    )


def test_live_buy_slices_are_read_under_their_parents_reference():
    account = AccountFactory()
    other_household = AccountFactory()
    asset = AssetFactory(symbol="VTI")
    parent = order(account, asset, "p-1", status=OrderStatus.ACCEPTED)
    order(account, asset, "p-1-1", parent=parent, filled="4", status=OrderStatus.PARTIALLY_FILLED)
    order(account, asset, "p-1-2", parent=parent, status=OrderStatus.ACCEPTED)
    order(account, asset, "p-1-3", parent=parent, filled="10", status=OrderStatus.FILLED)
    sell = order(account, asset, "p-2", side="sell", status=OrderStatus.ACCEPTED)
    order(account, asset, "p-2-1", side="sell", parent=sell, status=OrderStatus.ACCEPTED)
    foreign = order(other_household, asset, "p-3", status=OrderStatus.ACCEPTED)
    order(other_household, asset, "p-3-1", parent=foreign, status=OrderStatus.ACCEPTED)

    pending = pending_buy_orders([account.household_id])

    # the reference the slices' fills and pending wash sales carry is the parent's
    assert sorted((p.order_ref, p.quantity) for p in pending) == [
        ("p-1", Decimal("6")),
        ("p-1", Decimal("10")),
    ]
    assert all(p.symbol == "VTI" and p.expected_on == MONDAY.date() for p in pending)
    assert [p.quantity for p in pending_buy_orders([account.household_id], exclude="p-1-2")] == [
        Decimal("6")
    ]
