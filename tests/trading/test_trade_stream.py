"""Fills from Alpaca's trade-updates stream are booked once into the ledger, even when REST
reconciliation sees them too."""

import datetime as dt
import threading
import time
from decimal import Decimal

import pytest

from portfolios.models import Position, Transaction
from tests.factories import AccountFactory, AssetFactory, PriceBarFactory
from tests.trading.fake_alpaca import running_fake_alpaca
from trading.brokers.alpaca import AlpacaBroker
from trading.brokers.alpaca_stream import FillStream
from trading.core.orders import OrderIntent, OrderSide
from trading.management.commands.run_trade_stream import book
from trading.models import Fill, Order, OrderStatus
from trading.services import fills_sync

NOW = dt.datetime(2025, 7, 1, 15, 0, tzinfo=dt.UTC)


@pytest.mark.django_db(transaction=True)
def test_stream_fills_are_booked_once_with_rest_reconciliation():
    asset = AssetFactory(symbol="AAPL")
    PriceBarFactory(asset=asset, date=dt.date(2025, 6, 30), close=Decimal("190"))
    account = AccountFactory(cash=Decimal("10000.00"))
    order = Order.objects.create(
        account=account,
        asset=asset,
        side="buy",
        quantity=Decimal("10"),
        client_order_id="rp1-001-001",
        status=OrderStatus.SUBMITTING,
        broker="alpaca",
    )
    with running_fake_alpaca() as fake:
        fake.set_time(NOW)
        broker = AlpacaBroker(
            api_key=fake.api_key, secret_key=fake.secret_key, paper=True, base_url=fake.base_url
        )
        stream = FillStream(
            api_key=fake.api_key,
            secret_key=fake.secret_key,
            base_url=fake.base_url,
            stream_url=fake.start_stream(),
            on_fill=book,
        )
        runner = threading.Thread(target=stream.run, daemon=True)
        runner.start()
        try:
            assert fake.wait_for_stream_listener(timeout=10)
            broker.submit_order(
                OrderIntent(
                    client_order_id=order.client_order_id,
                    account_key=str(account.pk),
                    symbol="AAPL",
                    side=OrderSide.BUY,
                    quantity=Decimal("10"),
                ),
                now=NOW,
            )
            Order.objects.filter(pk=order.pk).update(status=OrderStatus.ACCEPTED)
            fake.fill(order.client_order_id, "4", "190.10")
            fake.fill(order.client_order_id, "6", "190.20")
            deadline = time.monotonic() + 15
            while Fill.objects.count() < 2 and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            stream.stop()
        # the scheduled REST reconciliation sees the same executions: nothing more is booked
        fills_sync(now=NOW + dt.timedelta(minutes=1), broker=broker)
    order.refresh_from_db()
    assert Fill.objects.count() == 2 and order.status == OrderStatus.FILLED
    assert Transaction.objects.filter(kind="buy").count() == 2
    assert Position.objects.get(account=account, asset=asset).quantity == Decimal("10")
    account.refresh_from_db()
    assert account.cash == Decimal("10000.00") - Decimal("4") * Decimal("190.10") - Decimal(
        "6"
    ) * Decimal("190.20")
