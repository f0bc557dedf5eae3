"""The execution loop works in batches: one round of pre-trade checks for every due order, one
transaction for a batch of fills. Batching must not change a decision or a booking."""

import datetime as dt
import threading
from decimal import Decimal

import pytest

from portfolios.models import Position, TaxLot, Transaction
from portfolios.services import holding_transfer_in
from tests.advisor.services.market import NOW, build_market
from tests.factories import AccountFactory
from trading.brokers.base import BrokerFill
from trading.core.orders import OrderSide
from trading.models import Fill, Order, OrderStatus, PreTradeCheck
from trading.services import fills_apply, orders_release_due, risk_limit_current, risk_limit_update

D = Decimal


def _child(account, asset, side, quantity, ref):
    parent = Order.objects.create(
        account=account,
        asset=asset,
        side=side,
        quantity=quantity,
        client_order_id=ref,
        status=OrderStatus.ACCEPTED,
    )
    return Order.objects.create(
        parent=parent,
        account=account,
        asset=asset,
        side=side,
        quantity=quantity,
        client_order_id=f"{ref}-1",
        sequence=1,
        status=OrderStatus.PENDING,
    )


def test_orders_checked_in_one_round_see_the_cash_the_earlier_ones_took(db):
    assets = {a.symbol: a for a in build_market()}
    account = AccountFactory(cash=D("10000.00"))
    # only the cash can bind: a first purchase may be most of the account
    risk_limit_update(
        limit_id=risk_limit_current().pk, changes={"max_position_weight": D("1")}, actor_id=None
    )
    # each buy alone fits the cash; the two together do not
    first = _child(account, assets["USA1"], "buy", D("60"), "round-a")
    second = _child(account, assets["BOND"], "buy", D("60"), "round-b")
    price = {
        o.pk: o.asset.bars.order_by("-date").values_list("close", flat=True).first()
        for o in (first, second)
    }
    assert all(60 * price[o.pk] < D("10000") for o in (first, second))
    assert 60 * (price[first.pk] + price[second.pk]) > D("10000")

    assert orders_release_due(now=NOW) == 2

    first.refresh_from_db()
    second.refresh_from_db()
    # Pending orders reserve their cash: the first is resized to what the second leaves ...
    cash_check = PreTradeCheck.objects.filter(order=first, check_name="cash_available")
    assert "soft_fail" in set(cash_check.values_list("outcome", flat=True))
    assert first.quantity < D("60")
    # ... and the second, checked in the same round, sees the first as resized, not as it was
    # (against the first's original 60 shares it would keep about a fifth of its own); it only
    # gives up the few cents its protective limit price costs above the last price
    assert D("59") < second.quantity <= D("60")
    committed = first.quantity * first.limit_price + second.quantity * second.limit_price
    assert committed <= D("10000.00")


def test_a_fill_the_ledger_refuses_leaves_the_rest_of_the_batch_booked(db):
    assets = {a.symbol: a for a in build_market()}
    account = AccountFactory(cash=D("5000.00"))
    holding_transfer_in(
        account=account,
        asset=assets["USA1"],
        quantity_=D("10"),
        cost_basis=D("900"),
        acquired_on=dt.date(2024, 1, 2),
    )
    buy = _child(account, assets["BOND"], "buy", D("20"), "batch-buy")
    sell = _child(account, assets["USA1"], "sell", D("10"), "batch-sell")
    broken = _child(account, assets["INTL"], "sell", D("5"), "batch-broken")  # none held
    Order.objects.filter(pk__in=[buy.pk, sell.pk, broken.pk]).update(status=OrderStatus.ACCEPTED)

    def fill(order, qty, price, n):
        return BrokerFill(
            execution_id=f"x-{order.client_order_id}-{n}",
            client_order_id=order.client_order_id,
            symbol=order.asset.symbol,
            side=OrderSide(order.side),
            quantity=D(qty),
            price=D(price),
            fee=D("0"),
            executed_at=NOW,
        )

    fills = [
        fill(sell, "4", "100", 1),
        fill(broken, "5", "50", 1),
        fill(buy, "20", "90", 1),
        fill(sell, "6", "101", 2),
    ]
    result = fills_apply(fills=fills, settle=False)
    assert [r is not None for r in result.rows] == [True, False, True, True]
    assert [f.execution_id for f, _ in result.refused] == ["x-batch-broken-1-1"]
    assert "only 0 held" in result.refused[0][1].message or "held" in result.refused[0][1].message
    assert sorted(result.finished) == sorted([buy.pk, sell.pk])

    account.refresh_from_db()
    assert account.cash == D("5000.00") - D("1800.00") + D("400.00") + D("606.00")
    held = dict(
        Position.objects.filter(account=account, quantity__gt=0).values_list(
            "asset__symbol", "quantity"
        )
    )
    assert held == {"BOND": D("20")}
    for symbol in ("USA1", "BOND"):
        lots = sum(
            TaxLot.objects.filter(account=account, asset__symbol=symbol).values_list(
                "quantity", flat=True
            ),
            D(0),
        )
        assert lots == held.get(symbol, D(0))
    broken.refresh_from_db()
    assert broken.filled_quantity == 0 and broken.status == OrderStatus.ACCEPTED
    assert not Transaction.objects.filter(external_id__startswith="fill:x-batch-broken").exists()

    # the same batch again books nothing twice
    again = fills_apply(fills=fills, settle=False)
    assert Fill.objects.count() == 3 and len(again.refused) == 1
    account.refresh_from_db()
    assert account.cash == D("4206.00")


@pytest.mark.django_db(transaction=True)
def test_a_refused_fill_leaves_the_household_locked_for_the_rest_of_the_batch(monkeypatch):
    """A refused fill rolls back to its savepoint; the household lock must outlive it, or
    another writer could book the same household's lots while the batch goes on."""
    from django.db import DatabaseError, connections, transaction

    from portfolios.models import Household
    from trading import services

    assets = {a.symbol: a for a in build_market()}
    account = AccountFactory(cash=D("5000.00"))
    broken = _child(account, assets["INTL"], "sell", D("5"), "lock-broken")  # none held
    buy = _child(account, assets["BOND"], "buy", D("2"), "lock-buy")
    Order.objects.filter(pk__in=[broken.pk, buy.pk]).update(status=OrderStatus.ACCEPTED)
    seen: list[str] = []

    def try_lock() -> None:
        try:
            with transaction.atomic():
                Household.objects.select_for_update(nowait=True).get(pk=account.household_id)
            seen.append("free")
        except DatabaseError:
            seen.append("locked")
        finally:
            connections.close_all()

    book = services._fill_book

    def probing(order, fill, session, **kwargs):
        if order.side == "buy":  # the second fill, after the refused one
            thread = threading.Thread(target=try_lock)
            thread.start()
            thread.join()
        return book(order, fill, session, **kwargs)

    monkeypatch.setattr(services, "_fill_book", probing)
    fills = [
        BrokerFill(
            execution_id=f"x-{order.client_order_id}",
            client_order_id=order.client_order_id,
            symbol=order.asset.symbol,
            side=OrderSide(order.side),
            quantity=order.quantity,
            price=D("50"),
            fee=D("0"),
            executed_at=NOW,
        )
        for order in (broken, buy)
    ]
    result = fills_apply(fills=fills, settle=False)
    assert len(result.refused) == 1 and result.rows[1] is not None
    assert seen == ["locked"]


def test_a_fill_is_dated_by_the_new_york_day_it_happened_on(db):
    """A fill at 20:30 in New York (the extended session) is 00:30 UTC the next day: its trade
    date, from which holding periods and wash-sale windows count, is the New York day."""
    assets = {a.symbol: a for a in build_market()}
    account = AccountFactory(cash=D("5000.00"))
    buy = _child(account, assets["BOND"], "buy", D("2"), "evening-buy")
    Order.objects.filter(pk=buy.pk).update(status=OrderStatus.ACCEPTED)
    fill = BrokerFill(
        execution_id="x-evening-1",
        client_order_id=buy.client_order_id,
        symbol="BOND",
        side=OrderSide.BUY,
        quantity=D("2"),
        price=D("90"),
        fee=D("0"),
        executed_at=dt.datetime(2024, 6, 4, 0, 30, tzinfo=dt.UTC),
    )
    fills_apply(fills=[fill], settle=False)
    txn = Transaction.objects.get(account=account, kind="buy")
    lot = TaxLot.objects.get(account=account)
    assert txn.trade_date == lot.acquired_on == dt.date(2024, 6, 3)
