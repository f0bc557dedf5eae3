from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from portfolios.core.errors import InvalidInput
from trading.core.costs import (
    FeeSchedule,
    aggregate_shortfall,
    estimate_trading_cost,
    implementation_shortfall,
    market_impact_per_share,
)
from trading.core.orders import Fill, OrderSide

D = Decimal
AT = datetime(2024, 7, 16, 15, 0, tzinfo=UTC)


def fill(side, qty, px, fee="0", n=1):
    return Fill(f"X{n}", "o-1", "AAA", side, D(qty), D(px), D(fee), AT)


def test_buy_shortfall_with_fees_and_unfilled_remainder():
    # 100 ordered at arrival 50; 60 @ 50.10 (fee 1.00) and 20 @ 50.20 (fee 0.50); final 50.40.
    report = implementation_shortfall(
        side=OrderSide.BUY,
        ordered_quantity=D("100"),
        arrival_price=D("50"),
        fills=[fill("buy", "60", "50.10", "1.00", 1), fill("buy", "20", "50.20", "0.50", 2)],
        final_price=D("50.40"),
    )
    assert report.filled_quantity == D("80")
    assert report.unfilled_quantity == D("20")
    assert report.average_fill_price == D("50.125")
    assert report.execution_cost == D("10.00")  # (50.125 - 50) x 80
    assert report.fees == D("1.50")
    assert report.opportunity_cost == D("8.00")  # (50.40 - 50) x 20
    assert report.total_cost == D("19.50")
    assert report.arrival_notional == D("5000.00")
    assert report.total_bps == D("39.00")


def test_sell_shortfall_fully_filled():
    report = implementation_shortfall(
        side=OrderSide.SELL,
        ordered_quantity=D("200"),
        arrival_price=D("30"),
        fills=[fill("sell", "200", "29.95", "2.00")],
    )
    assert report.execution_cost == D("10.00")  # sold 0.05 below arrival on 200
    assert report.opportunity_cost == D("0.00")
    assert report.total_cost == D("12.00")
    assert report.total_bps == D("20.00")  # 12 / 6,000


def test_sell_left_unfilled_while_price_rose_is_a_negative_cost():
    report = implementation_shortfall(
        side=OrderSide.SELL,
        ordered_quantity=D("100"),
        arrival_price=D("20"),
        fills=[fill("sell", "50", "19.90")],
        final_price=D("21"),
    )
    assert report.execution_cost == D("5.00")
    assert report.opportunity_cost == D("-50.00")
    assert report.total_cost == D("-45.00")
    assert report.total_bps == D("-225.00")


def test_buy_better_than_arrival_is_a_negative_cost():
    report = implementation_shortfall(
        side=OrderSide.BUY,
        ordered_quantity=D("10"),
        arrival_price=D("100"),
        fills=[fill("buy", "10", "99")],
    )
    assert report.total_cost == D("-10.00")
    assert report.total_bps == D("-100.00")


def test_nothing_filled_is_all_opportunity_cost():
    report = implementation_shortfall(
        side=OrderSide.BUY,
        ordered_quantity=D("10"),
        arrival_price=D("100"),
        fills=[],
        final_price=D("103"),
    )
    assert report.average_fill_price is None
    assert report.total_cost == report.opportunity_cost == D("30.00")


def test_aggregate_shortfall_weights_bps_by_arrival_notional():
    buy = implementation_shortfall(
        side=OrderSide.BUY,
        ordered_quantity=D("100"),
        arrival_price=D("50"),
        fills=[fill("buy", "60", "50.10", "1.00", 1), fill("buy", "20", "50.20", "0.50", 2)],
        final_price=D("50.40"),
    )
    sell = implementation_shortfall(
        side=OrderSide.SELL,
        ordered_quantity=D("200"),
        arrival_price=D("30"),
        fills=[fill("sell", "200", "29.95", "2.00")],
    )
    summary = aggregate_shortfall([buy, sell])
    assert summary.orders == 2
    assert summary.total_cost == D("31.50")
    assert summary.fees == D("3.50")
    assert summary.arrival_notional == D("11000.00")
    assert summary.total_bps == D("28.64")  # 31.50 / 11,000
    assert aggregate_shortfall([]).total_bps == D("0.00")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"fills": [fill("buy", "101", "50")]},  # overfilled
        {"fills": [fill("sell", "10", "50")]},  # wrong side
        {"fills": [fill("buy", "10", "50")]},  # unfilled without final price
        {"fills": [], "arrival_price": D("0"), "final_price": D("1")},
    ],
)
def test_shortfall_rejects_inconsistent_input(kwargs):
    args: dict[str, Any] = {
        "side": OrderSide.BUY,
        "ordered_quantity": D("100"),
        "arrival_price": D("50"),
    }
    args.update(kwargs)
    with pytest.raises(InvalidInput):
        implementation_shortfall(**args)


def test_impact_is_the_square_root_law_in_closed_form():
    # Y x sigma x sqrt(Q / ADV) x price = 1 x 0.02 x sqrt(10,000 / 1,000,000) x 50 = 0.10
    per_share = market_impact_per_share(
        quantity=D("10000"), price=D("50"), daily_volatility=0.02, average_daily_volume=D("1000000")
    )
    assert per_share == pytest.approx(0.10)
    quadrupled = market_impact_per_share(
        quantity=D("40000"), price=D("50"), daily_volatility=0.02, average_daily_volume=D("1000000")
    )
    assert quadrupled == pytest.approx(2 * per_share)
    assert market_impact_per_share(
        quantity=D("10000"),
        price=D("50"),
        daily_volatility=0.02,
        average_daily_volume=D("1000000"),
        impact_coefficient=0.5,
    ) == pytest.approx(0.05)


def test_cost_estimate_adds_commission_half_spread_and_impact():
    estimate = estimate_trading_cost(
        quantity=D("10000"),
        price=D("50"),
        spread_bps=D("10"),
        daily_volatility=0.02,
        average_daily_volume=D("1000000"),
        fees=FeeSchedule(per_share=D("0.005"), minimum=D("1")),
    )
    assert estimate.notional == D("500000.00")
    assert estimate.commission == D("50.00")
    assert estimate.spread_cost == D("250.00")  # 5 bps of 500,000
    assert estimate.impact_cost == D("1000.00")  # 0.10 x 10,000
    assert estimate.total == D("1300.00")
    assert estimate.total_bps == D("26.00")


def test_fee_schedule_minimum_and_bps():
    fees = FeeSchedule(bps=D("2"), minimum=D("1"))
    assert fees.fee(D("1"), D("100")) == D("1.00")
    assert fees.fee(D("100"), D("100000")) == D("20.00")
    assert fees.fee(D("0"), D("0")) == D("0.00")
    with pytest.raises(InvalidInput):
        FeeSchedule(per_share=D("-0.01"))


def test_cost_estimate_of_nothing_is_zero_and_bad_volume_is_invalid():
    zero = estimate_trading_cost(
        quantity=0, price=10, spread_bps=5, daily_volatility=0.02, average_daily_volume=1000
    )
    assert zero.total == D("0.00")
    with pytest.raises(InvalidInput):
        estimate_trading_cost(
            quantity=1, price=10, spread_bps=5, daily_volatility=0.02, average_daily_volume=0
        )
