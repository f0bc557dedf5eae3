"""The simulated exchange: book shape, walking levels, resting limits, latency, rejects, seeds."""

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from portfolios.core.errors import Conflict, InvalidInput, NotFound
from trading.core.costs import FeeSchedule, market_impact_per_share
from trading.core.matching import (
    ExchangeConfig,
    ExchangeOrderStatus,
    ListedAsset,
    SimulatedExchange,
)
from trading.core.orders import OrderIntent, OrderSide, OrderType

D = Decimal
T0 = datetime(2024, 7, 16, 14, 0, tzinfo=UTC)
Status = ExchangeOrderStatus

# Reference 100, spread 10 bps (half spread 0.05), sigma 2%, ADV 1,000,000 and 100 shares per
# level: sqrt(100 / 1,000,000) = 0.01, so level k sits 0.05 + 0.02 x (k^1.5 - (k-1)^1.5) away.
AAA = ListedAsset(
    "AAA", D("100"), D("1000000"), daily_volatility=0.02, spread_bps=D("10"), fractionable=True
)
BBB = ListedAsset("BBB", D("20"), D("200000"), daily_volatility=0.03, fractionable=False)


def exchange(**config) -> SimulatedExchange:
    config.setdefault("level_depth_fraction", 0.0001)
    return SimulatedExchange([AAA, BBB], config=ExchangeConfig(**config))


def buy(ex, coid, qty, *, now=T0, **kwargs):
    return ex.submit(
        client_order_id=coid, symbol="AAA", side=OrderSide.BUY, quantity=D(qty), now=now, **kwargs
    )


def sell(ex, coid, qty, *, now=T0, **kwargs):
    return ex.submit(
        client_order_id=coid, symbol="AAA", side=OrderSide.SELL, quantity=D(qty), now=now, **kwargs
    )


def test_book_levels_by_hand():
    book = exchange().book("AAA")
    # asks: 100.07, 100.0866 -> 100.09, 100.0974 -> 100.10, 100.1061 -> 100.11 (rounded up)
    assert [lvl.price for lvl in book.asks[:4]] == [
        D("100.07"),
        D("100.09"),
        D("100.10"),
        D("100.11"),
    ]
    # bids mirror them, rounded down: 99.93, 99.9134 -> 99.91, 99.9026 -> 99.90
    assert [lvl.price for lvl in book.bids[:3]] == [D("99.93"), D("99.91"), D("99.90")]
    assert {lvl.quantity for lvl in book.asks} == {D("100")}
    assert len(book.asks) == len(book.bids) == 10
    assert (book.best_bid, book.best_ask) == (D("99.93"), D("100.07"))


def test_market_buy_walks_levels_to_the_hand_computed_average():
    ex = exchange()
    order = buy(ex, "m-1", "250")
    assert order.status is Status.FILLED
    assert [(f.price, f.quantity) for f in order.fills] == [
        (D("100.07"), D("100")),
        (D("100.09"), D("100")),
        (D("100.10"), D("50")),
    ]
    # (10,007 + 10,009 + 5,005) / 250
    assert order.average_fill_price == D("100.084")
    assert [f.execution_id for f in order.fills] == [
        "SIM-X000000001",
        "SIM-X000000002",
        "SIM-X000000003",
    ]
    assert order.exchange_order_id == "SIM-00000001"
    assert all(f.executed_at == T0 for f in order.fills)


def test_market_sell_walks_the_bids():
    order = sell(exchange(), "m-1", "150")
    assert order.average_fill_price == D("99.923333")  # (9,993 + 4,995.5) / 150


def test_walking_full_levels_reproduces_square_root_impact():
    ex = exchange(tick_size=D("0.000001"))
    order = buy(ex, "m-1", "400")  # four full levels
    avg = float(order.average_fill_price)
    half_spread = 100 * 0.0005
    impact = market_impact_per_share(
        quantity=D("400"), price=D("100"), daily_volatility=0.02, average_daily_volume=D("1000000")
    )
    assert impact == pytest.approx(100 * 0.02 * math.sqrt(400 / 1_000_000))
    assert avg - 100 - half_spread == pytest.approx(impact, abs=2e-6)


def test_market_order_beyond_depth_fills_partly_and_cancels_the_rest():
    ex = exchange(levels=3)
    order = buy(ex, "m-1", "500")
    assert order.status is Status.CANCELED
    assert order.filled_quantity == D("300")
    assert order.remaining_quantity == D("200")
    assert "insufficient liquidity" in order.reason
    assert order.average_fill_price == D("100.086667")


def test_limit_order_fills_to_its_limit_then_rests_until_the_market_moves():
    ex = exchange()
    order = buy(ex, "l-1", "250", order_type=OrderType.LIMIT, limit_price=D("100.09"))
    assert order.status is Status.PARTIALLY_FILLED
    assert order.filled_quantity == D("200")
    assert ex.open_orders() == (order,)
    later = T0 + timedelta(minutes=1)
    fills = ex.advance(later, {"AAA": D("99.90")})  # new best ask 99.9699 -> 99.97
    assert [(f.price, f.quantity, f.executed_at) for f in fills] == [(D("99.97"), D("50"), later)]
    done = ex.get_order("l-1")
    assert done.status is Status.FILLED
    assert done.average_fill_price == D("100.058")  # (10,007 + 10,009 + 4,998.5) / 250
    assert ex.open_orders() == ()


def test_resting_limit_buy_fills_only_when_the_price_comes_through_it():
    ex = exchange()
    order = buy(ex, "l-1", "100", order_type=OrderType.LIMIT, limit_price=D("99.50"))
    assert order.status is Status.ACCEPTED
    assert order.fills == ()
    assert ex.advance(T0 + timedelta(minutes=1), {"AAA": D("100.50")}) == ()
    fills = ex.advance(T0 + timedelta(minutes=2), {"AAA": D("99.40")})  # ask 99.4696 -> 99.47
    assert [(f.price, f.quantity) for f in fills] == [(D("99.47"), D("100"))]
    assert ex.get_order("l-1").status is Status.FILLED


def test_resting_limit_sell_fills_when_the_price_rises():
    ex = exchange()
    sell(ex, "l-1", "100", order_type=OrderType.LIMIT, limit_price=D("100.60"))
    fills = ex.advance(T0 + timedelta(minutes=1), {"AAA": D("100.70")})  # bid 100.6295 -> 100.62
    assert [(f.price, f.quantity) for f in fills] == [(D("100.62"), D("100"))]


def test_taken_liquidity_stays_gone_until_the_book_is_rebuilt():
    ex = exchange()
    assert buy(ex, "a", "100").average_fill_price == D("100.07")
    assert buy(ex, "b", "100").average_fill_price == D("100.09")
    ex.advance(T0 + timedelta(seconds=1), {"AAA": D("100")})
    assert buy(ex, "c", "100", now=T0 + timedelta(seconds=1)).average_fill_price == D("100.07")


def test_resubmitting_the_same_client_order_id_returns_the_existing_order():
    ex = exchange()
    first = buy(ex, "dup", "10")
    again = buy(ex, "dup", "10.000000000", now=T0 + timedelta(seconds=5))
    assert again == first
    assert len(ex.fills()) == 1
    assert ex.get_order("dup").exchange_order_id == "SIM-00000001"
    later = T0 + timedelta(seconds=6)
    with pytest.raises(Conflict):
        buy(ex, "dup", "11", now=later)
    rejected = buy(ex, "bad", "0", now=later)
    assert buy(ex, "bad", "0", now=later) == rejected


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"quantity": D("0")}, "quantity must be positive"),
        ({"quantity": D("-5")}, "quantity must be positive"),
        ({"quantity": D("1.0000000001")}, "more than 9 decimal places"),
        ({"symbol": "ZZZ"}, "unknown symbol"),
        ({"symbol": "BBB", "quantity": D("1.5")}, "not fractionable"),
        ({"order_type": OrderType.LIMIT, "limit_price": D("111")}, "outside the ±10% collar"),
        ({"order_type": OrderType.LIMIT}, "needs a positive limit price"),
        ({"limit_price": D("100")}, "market order must not have a limit price"),
        ({"client_order_id": "x" * 49}, "longer than 48"),
    ],
)
def test_rejects(kwargs, reason):
    ex = exchange()
    args: dict[str, Any] = {
        "client_order_id": "r-1",
        "symbol": "AAA",
        "side": OrderSide.BUY,
        "quantity": D("10"),
        "now": T0,
    }
    args.update(kwargs)
    order = ex.submit(**args)
    assert order.status is Status.REJECTED
    assert order.reason is not None
    assert reason in order.reason
    assert order.fills == ()
    assert ex.fills() == ()


def test_random_rejects_follow_the_seed():
    def statuses(seed):
        ex = exchange(reject_probability=0.5, seed=seed)
        return [buy(ex, f"o-{i}", "1").status for i in range(40)]

    first = statuses(7)
    assert first == statuses(7)
    assert Status.REJECTED in first
    assert Status.FILLED in first
    always = exchange(reject_probability=1.0)
    assert "simulated fault" in buy(always, "o", "1").reason


def test_latency_delays_acknowledgement_and_fill():
    ex = exchange(ack_latency=timedelta(milliseconds=100), fill_latency=timedelta(milliseconds=200))
    order = buy(ex, "m-1", "100")
    assert order.status is Status.NEW
    assert order.acknowledged_at is None
    assert ex.advance(T0 + timedelta(milliseconds=100)) == ()
    acked = ex.get_order("m-1")
    assert acked.status is Status.ACCEPTED
    assert acked.acknowledged_at == T0 + timedelta(milliseconds=100)
    # The market moves before the fill lands: the order fills against the new book.
    ex.advance(T0 + timedelta(milliseconds=250), {"AAA": D("101")})
    fills = ex.advance(T0 + timedelta(milliseconds=400))
    assert [(f.price, f.executed_at) for f in fills] == [
        (D("101.08"), T0 + timedelta(milliseconds=300))  # 101 x 1.0007 = 101.0707 -> 101.08
    ]


def test_fees_charge_the_order_minimum_on_the_first_fill():
    ex = exchange(fees=FeeSchedule(per_share=D("0.005"), minimum=D("1")))
    order = buy(ex, "m-1", "250")
    assert [f.fee for f in order.fills] == [D("1.00"), D("0.00"), D("0.25")]
    assert order.fees == D("1.25")


def scenario(seed):
    ex = exchange(
        seed=seed,
        reject_probability=0.3,
        ack_latency=timedelta(milliseconds=50),
        fill_latency=timedelta(milliseconds=150),
        fees=FeeSchedule(bps=D("1"), minimum=D("0.5")),
    )
    now = T0
    price = D("100")
    for step in range(30):
        now += timedelta(seconds=1)
        price += D("0.15") if step % 4 < 2 else D("-0.2")
        ex.advance(now, {"AAA": price, "BBB": D("20")})
        if step % 2 == 0:
            buy(ex, f"b-{step}", str(50 + step * 7), now=now)
        else:
            sell(ex, f"s-{step}", "120", now=now, order_type=OrderType.LIMIT, limit_price=price)
    ex.advance(now + timedelta(seconds=1))
    return ex.fills(), [ex.get_order(o.client_order_id) for o in ex.fills()]


def test_same_seed_same_fills():
    fills, orders = scenario(11)
    assert len(fills) > 10
    assert scenario(11) == (fills, orders)


def test_time_must_not_go_backwards_and_must_be_aware():
    ex = exchange()
    ex.advance(T0)
    with pytest.raises(InvalidInput):
        ex.advance(T0 - timedelta(seconds=1))
    with pytest.raises(InvalidInput):
        ex.advance(datetime(2024, 7, 16, 15, 0))  # noqa: DTZ001 - the point of the test


def test_cancel_and_expire():
    ex = exchange()
    buy(ex, "l-1", "10", order_type=OrderType.LIMIT, limit_price=D("99"))
    buy(ex, "l-2", "10", order_type=OrderType.LIMIT, limit_price=D("98"))
    canceled = ex.cancel("l-1", now=T0)
    assert canceled.status is Status.CANCELED
    assert ex.cancel("l-1", now=T0) == canceled
    expired = ex.expire_day_orders(now=T0 + timedelta(hours=6))
    assert [o.client_order_id for o in expired] == ["l-2"]
    assert expired[0].status is Status.EXPIRED
    buy(ex, "m-1", "1", now=T0 + timedelta(hours=6))
    with pytest.raises(Conflict):
        ex.cancel("m-1", now=T0 + timedelta(hours=6))
    with pytest.raises(NotFound):
        ex.cancel("nope", now=T0 + timedelta(hours=6))
    with pytest.raises(NotFound):
        ex.advance(T0 + timedelta(hours=7), {"ZZZ": D("1")})


def test_submit_intent_and_whole_share_asset():
    ex = exchange()
    intent = OrderIntent(
        client_order_id="i-1", account_key="a", symbol="BBB", side=OrderSide.BUY, quantity=D("30")
    )
    order = ex.submit_intent(intent, now=T0)
    assert order.status is Status.FILLED
    assert all(f.quantity == f.quantity.to_integral_value() for f in order.fills)
    # 20 shares per level (0.0001 x 200,000): the first level is gone, 10 left on the second.
    assert [lvl.quantity for lvl in ex.book("BBB").asks[:3]] == [D("0"), D("10"), D("20")]
