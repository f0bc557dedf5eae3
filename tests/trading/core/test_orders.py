from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portfolios.core.errors import InvalidInput
from trading.core.orders import (
    Fill,
    OrderIntent,
    OrderSide,
    OrderType,
    is_lot_multiple,
    largest_quantity_within,
    round_quantity_down,
)


def intent(**overrides):
    fields: dict[str, Any] = {
        "client_order_id": "p-1",
        "account_key": "acct-1",
        "symbol": "AAA",
        "side": OrderSide.BUY,
        "quantity": Decimal("10"),
    }
    fields.update(overrides)
    return OrderIntent(**fields)


def test_order_intent_coerces_strings_to_enums():
    # Strings from forms and the API are accepted and coerced.
    order = intent(side="sell", order_type="limit", limit_price="12.5")
    assert order.side is OrderSide.SELL
    assert order.order_type is OrderType.LIMIT
    assert order.limit_price == Decimal("12.5")
    assert not order.is_buy


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"quantity": Decimal("0")}, "quantity"),
        ({"quantity": Decimal("-1")}, "quantity"),
        ({"quantity": Decimal("1.0000000001")}, "quantity"),
        ({"order_type": OrderType.LIMIT}, "limit_price"),
        ({"order_type": OrderType.LIMIT, "limit_price": Decimal("0")}, "limit_price"),
        ({"limit_price": Decimal("10")}, "limit_price"),
        ({"side": "hold"}, "side"),
        ({"client_order_id": "  "}, "client_order_id"),
        ({"not_before": datetime(2024, 1, 2, 10, 0)}, "not_before"),  # noqa: DTZ001 - naive on purpose
    ],
)
def test_order_intent_rejects_bad_input_naming_the_field(overrides, field):
    with pytest.raises(InvalidInput) as err:
        intent(**overrides)
    assert err.value.field == field


def test_fill_validates_and_computes_notional():
    fill = Fill(
        "X1",
        "p-1",
        "AAA",
        OrderSide.BUY,
        Decimal("3"),
        Decimal("10.5"),
        Decimal("0.10"),
        datetime(2024, 1, 2, 15, tzinfo=UTC),
    )
    assert fill.notional == Decimal("31.5")
    with pytest.raises(InvalidInput):
        Fill(
            "X1",
            "p-1",
            "AAA",
            OrderSide.BUY,
            Decimal("3"),
            Decimal("10"),
            Decimal("-1"),
            datetime(2024, 1, 2, 15, tzinfo=UTC),
        )


def test_round_quantity_down_to_lots():
    assert round_quantity_down(Decimal("10.9999999999"), fractionable=True) == Decimal(
        "10.999999999"
    )
    assert round_quantity_down(Decimal("10.99"), fractionable=False) == Decimal("10")
    assert round_quantity_down(Decimal("-3"), fractionable=True) == 0
    assert is_lot_multiple(Decimal("4.000"), fractionable=False)
    assert not is_lot_multiple(Decimal("4.5"), fractionable=False)


@given(
    budget=st.decimals(min_value=0, max_value=10**7, places=2),
    unit_price=st.decimals(min_value="0.01", max_value=10**4, places=6),
    fractionable=st.booleans(),
)
def test_largest_quantity_within_is_largest_affordable_lot(budget, unit_price, fractionable):
    qty = largest_quantity_within(budget, unit_price, fractionable=fractionable)
    step = Decimal("0.000000001") if fractionable else Decimal(1)
    assert qty >= 0
    assert is_lot_multiple(qty, fractionable=fractionable)
    assert qty * unit_price <= budget
    assert (qty + step) * unit_price > budget
