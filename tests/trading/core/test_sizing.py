from decimal import Decimal
from typing import Any

import pytest

from portfolios.core.errors import InvalidInput
from trading.core.orders import OrderSide, OrderType
from trading.core.sizing import size_order

D = Decimal


def size(**overrides):
    fields: dict[str, Any] = {
        "client_order_id": "p-1",
        "account_key": "acct-1",
        "symbol": "AAA",
        "quantity_delta": D("10"),
        "price": D("25"),
    }
    fields.update(overrides)
    return size_order(**fields)


def test_positive_delta_buys_and_negative_delta_sells():
    buy = size()
    assert buy.order.side is OrderSide.BUY
    assert buy.order.quantity == D("10")
    sell = size(quantity_delta=D("-4"))
    assert sell.order.side is OrderSide.SELL
    assert sell.order.quantity == D("4")


def test_lot_rounding_is_down_to_nine_places_or_whole_shares():
    assert size(quantity_delta=D("10.1234567899")).order.quantity == D("10.123456789")
    assert size(quantity_delta=D("10.99"), fractionable=False).order.quantity == D("10")
    skipped = size(quantity_delta=D("0.7"), fractionable=False)
    assert skipped.order is None
    assert "rounds to zero" in skipped.reason


def test_order_below_minimum_trade_is_skipped():
    skipped = size(quantity_delta=D("0.3"), min_trade_notional=D("10"))  # 7.50
    assert skipped.order is None
    assert "below the minimum trade of 10.00" in skipped.reason
    assert size(quantity_delta=D("0.4"), min_trade_notional=D("10")).order is not None


def test_buy_is_resized_to_cash_after_buffer():
    sized = size(quantity_delta=D("100"), available_cash=D("800"), cash_buffer=D("100"))
    assert sized.order.quantity == D("28")  # 700 / 25
    assert "cash available after the buffer" in sized.reason
    assert size(quantity_delta=D("100"), available_cash=D("50"), cash_buffer=D("100")).order is None


def test_limit_buy_is_sized_at_its_limit_price():
    sized = size(
        quantity_delta=D("100"),
        available_cash=D("520"),
        order_type=OrderType.LIMIT,
        limit_price=D("26"),
        fractionable=False,
    )
    assert sized.order.quantity == D("20")
    assert sized.order.limit_price == D("26")


def test_sell_is_capped_at_position_and_full_close_ignores_minimum():
    capped = size(quantity_delta=D("-12"), held_quantity=D("9"))
    assert capped.order.quantity == D("9")
    dust = size(quantity_delta=D("-0.2"), held_quantity=D("0.2"), min_trade_notional=D("10"))
    assert dust.order is not None
    assert dust.order.quantity == D("0.2")
    partial = size(quantity_delta=D("-0.2"), held_quantity=D("5"), min_trade_notional=D("10"))
    assert partial.order is None


def test_zero_delta_and_bad_price():
    assert size(quantity_delta=0).order is None
    with pytest.raises(InvalidInput):
        size(price=D("0"))
    with pytest.raises(InvalidInput):
        size(order_type=OrderType.LIMIT)
