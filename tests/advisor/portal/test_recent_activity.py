"""Recent activity: newest first by the date it shows, then by when it was recorded."""

import datetime as dt
from decimal import Decimal

import pytest

from advisor.portal_selectors import recent_activity
from portfolios.models import TransactionKind
from tests.factories import AccountFactory, AssetFactory, TransactionFactory
from trading.models import Order, OrderStatus

pytestmark = pytest.mark.django_db


def test_activity_is_ordered_by_the_date_shown_then_by_when_it_was_recorded():
    account = AccountFactory()
    asset = AssetFactory(symbol="VTI")
    TransactionFactory(account=account, asset=asset, trade_date=dt.date(2024, 6, 3))
    # recorded after the purchase, but a lot bought in 2019: it belongs below it
    TransactionFactory(
        account=account,
        asset=asset,
        kind=TransactionKind.TRANSFER_IN,
        trade_date=dt.date(2019, 1, 2),
        amount=Decimal("0.00"),
    )
    # the same trade date as the purchase, recorded later: above it
    TransactionFactory(
        account=account,
        asset=None,
        kind=TransactionKind.DEPOSIT,
        trade_date=dt.date(2024, 6, 3),
        quantity=None,
        price=None,
        amount=Decimal("500.00"),
    )
    activity = recent_activity(household_id=account.household_id)
    assert [(a.kind, a.on) for a in activity] == [
        (TransactionKind.DEPOSIT, dt.date(2024, 6, 3)),
        (TransactionKind.BUY, dt.date(2024, 6, 3)),
        (TransactionKind.TRANSFER_IN, dt.date(2019, 1, 2)),
    ]
    # the newest by date are the ones kept when the list is cut short
    shortened = recent_activity(household_id=account.household_id, limit=2)
    assert [a.kind for a in shortened] == [TransactionKind.DEPOSIT, TransactionKind.BUY]


def test_an_order_is_dated_by_the_market_day_it_happened_on():
    """An order last updated at 20:30 in New York (00:30 UTC the next day) shows that day."""
    account = AccountFactory()
    order = Order.objects.create(
        account=account,
        asset=AssetFactory(symbol="VTI"),
        side="buy",
        quantity=Decimal("5"),
        client_order_id="evening",
        status=OrderStatus.CANCELED,
    )
    evening = dt.datetime(2024, 6, 4, 0, 30, tzinfo=dt.UTC)
    Order.objects.filter(pk=order.pk).update(updated_at=evening)
    (activity,) = recent_activity(household_id=account.household_id)
    assert activity.on == dt.date(2024, 6, 3)
