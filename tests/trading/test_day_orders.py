"""A day order left open by a past session is cancelled and closed, freeing the account."""

import datetime as dt
from decimal import Decimal

import pytest

from tests.factories import AccountFactory, AssetFactory, PriceBarFactory
from trading.brokers.simulated import SimulatedBroker
from trading.core.orders import OrderIntent, OrderSide, OrderType
from trading.models import Order, OrderStatus, SimulatedExchangeOrder
from trading.services import trading_tick

pytestmark = pytest.mark.django_db
MONDAY = dt.datetime(2025, 6, 30, 15, 0, tzinfo=dt.UTC)


def test_a_resting_limit_expires_at_the_next_session():
    asset = AssetFactory(symbol="RST")
    PriceBarFactory(asset=asset, date=dt.date(2025, 6, 30), close=Decimal("100"))
    account = AccountFactory(cash=Decimal("10000.00"))
    order = Order.objects.create(
        account=account,
        asset=asset,
        side="buy",
        order_type="limit",
        limit_price=Decimal("95"),
        quantity=Decimal("5"),
        client_order_id="rp9-001-001",
        status=OrderStatus.ACCEPTED,
        submitted_at=MONDAY,
    )
    broker = SimulatedBroker()
    broker.submit_order(
        OrderIntent(
            client_order_id=order.client_order_id,
            account_key=str(account.pk),
            symbol="RST",
            side=OrderSide.BUY,
            quantity=Decimal("5"),
            order_type=OrderType.LIMIT,
            limit_price=Decimal("95"),
        ),
        now=MONDAY,
    )
    assert SimulatedExchangeOrder.objects.get().status == "accepted"  # resting far below the market
    assert trading_tick(now=MONDAY + dt.timedelta(hours=1), broker=broker)["expired"] == 0
    # a follow-up round without the sweeps leaves it for the next full round
    tuesday = MONDAY + dt.timedelta(days=1)
    assert trading_tick(now=tuesday, broker=broker, sweep=False)["expired"] == 0
    assert Order.objects.get(pk=order.pk).status == OrderStatus.ACCEPTED
    assert trading_tick(now=tuesday, broker=broker)["expired"] == 1
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELED and "expired" in order.last_error
    assert SimulatedExchangeOrder.objects.get().status == "canceled"
