from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portfolios.core.errors import InvalidInput
from trading.core.execution import (
    ExecutionAlgo,
    child_client_order_id,
    plan_execution,
    us_equity_volume_profile,
    us_equity_volume_share,
)
from trading.core.orders import MAX_CLIENT_ORDER_ID_LENGTH, OrderIntent, OrderSide, OrderType

D = Decimal
NANO = D("0.000000001")
# Tuesday 16 July 2024: the session runs 13:30-20:00 UTC (9:30-16:00 EDT).
OPEN = datetime(2024, 7, 16, 13, 30, tzinfo=UTC)
CLOSE = datetime(2024, 7, 16, 20, 0, tzinfo=UTC)


def parent(quantity="1000", **overrides) -> OrderIntent:
    fields: dict[str, Any] = {
        "client_order_id": "prop-7-acct-3-AAA",
        "account_key": "acct-3",
        "symbol": "AAA",
        "side": OrderSide.BUY,
        "quantity": D(quantity),
    }
    fields.update(overrides)
    return OrderIntent(**fields)


def quantities(plan):
    return [c.quantity for c in plan.children]


def test_market_and_limit_are_single_children():
    market = plan_execution(parent(), algo=ExecutionAlgo.MARKET, start=OPEN, end=OPEN)
    assert quantities(market) == [D("1000")]
    assert market.children[0].order_type is OrderType.MARKET
    assert market.children[0].client_order_id == "prop-7-acct-3-AAA-001"
    limit = plan_execution(
        parent(), algo=ExecutionAlgo.LIMIT, start=OPEN, end=OPEN, limit_price=D("10.5")
    )
    assert limit.children[0].order_type is OrderType.LIMIT
    assert limit.children[0].limit_price == D("10.5")


def test_twap_equal_slices_at_equal_intervals():
    plan = plan_execution(
        parent(), algo=ExecutionAlgo.TWAP, start=OPEN, end=OPEN + timedelta(hours=1), n_slices=10
    )
    assert quantities(plan) == [D("100")] * 10
    assert [c.scheduled_at for c in plan.children] == [
        OPEN + timedelta(minutes=6 * i) for i in range(10)
    ]
    assert [c.sequence for c in plan.children] == list(range(1, 11))
    assert plan.children[9].client_order_id == "prop-7-acct-3-AAA-010"


def test_twap_remainder_goes_to_the_last_slice():
    plan = plan_execution(
        parent("1003"),
        algo=ExecutionAlgo.TWAP,
        start=OPEN,
        end=CLOSE,
        n_slices=10,
        fractionable=False,
    )
    assert quantities(plan) == [D("100")] * 9 + [D("103")]


def test_twap_with_fewer_shares_than_slices_uses_fewer_slices():
    plan = plan_execution(
        parent("3"), algo=ExecutionAlgo.TWAP, start=OPEN, end=CLOSE, n_slices=10, fractionable=False
    )
    assert quantities(plan) == [D("1")] * 3


def test_twap_slice_interval_rounds_the_count_up():
    plan = plan_execution(
        parent(),
        algo=ExecutionAlgo.TWAP,
        start=OPEN,
        end=OPEN + timedelta(hours=1),
        slice_interval=timedelta(minutes=25),
    )
    assert len(plan.children) == 3
    assert plan.total_quantity == D("1000")


def test_twap_limit_children_carry_the_parent_limit():
    plan = plan_execution(
        parent(order_type=OrderType.LIMIT, limit_price=D("20")),
        algo=ExecutionAlgo.TWAP,
        start=OPEN,
        end=CLOSE,
        n_slices=4,
    )
    assert {(c.order_type, c.limit_price) for c in plan.children} == {(OrderType.LIMIT, D("20"))}


def test_vwap_slices_follow_the_profile_exactly_when_it_divides():
    plan = plan_execution(
        parent(), algo=ExecutionAlgo.VWAP, start=OPEN, end=CLOSE, volume_profile=[1, 2, 3, 4]
    )
    assert quantities(plan) == [D("100"), D("200"), D("300"), D("400")]
    assert plan.volume_profile == (0.1, 0.2, 0.3, 0.4)


def test_vwap_remainder_goes_to_the_largest_slice():
    plan = plan_execution(
        parent("1003"),
        algo=ExecutionAlgo.VWAP,
        start=OPEN,
        end=CLOSE,
        volume_profile=[1, 4, 3, 2],
        fractionable=False,
    )
    assert quantities(plan) == [D("100"), D("403"), D("300"), D("200")]


def test_vwap_default_profile_is_the_u_shape_over_the_session():
    plan = plan_execution(parent(), algo=ExecutionAlgo.VWAP, start=OPEN, end=CLOSE, n_slices=13)
    assert plan.volume_profile == pytest.approx(us_equity_volume_profile(13))
    sizes = quantities(plan)
    assert sizes[0] > sizes[6] < sizes[12]
    assert sum(sizes) == D("1000")


def test_vwap_default_profile_skips_slices_outside_the_session():
    # 8:30-10:30 EDT in four half hours: the first two are before the open.
    start = OPEN - timedelta(hours=1)
    plan = plan_execution(
        parent(), algo=ExecutionAlgo.VWAP, start=start, end=OPEN + timedelta(hours=1), n_slices=4
    )
    assert [c.scheduled_at for c in plan.children] == [OPEN, OPEN + timedelta(minutes=30)]
    assert [c.sequence for c in plan.children] == [1, 2]
    assert plan.total_quantity == D("1000")
    with pytest.raises(InvalidInput):
        plan_execution(
            parent(),
            algo=ExecutionAlgo.VWAP,
            start=CLOSE,
            end=CLOSE + timedelta(hours=1),
            n_slices=2,
        )


def test_us_equity_volume_profile_is_u_shaped_and_sums_to_one():
    profile = us_equity_volume_profile(13)
    assert sum(profile) == pytest.approx(1.0)
    assert profile[0] > profile[3] > profile[6]
    assert profile[12] > profile[9] > profile[6]
    assert 0.10 < profile[0] < 0.20
    assert us_equity_volume_share(0.0, 1.0) == pytest.approx(1.0)
    assert us_equity_volume_share(0.5, 0.5) == 0.0


def test_iceberg_shows_display_quantity_and_releases_after_fills():
    plan = plan_execution(
        parent("1050"),
        algo=ExecutionAlgo.ICEBERG,
        start=OPEN,
        end=CLOSE,
        display_quantity=D("200"),
        limit_price=D("10"),
    )
    assert quantities(plan) == [D("200")] * 5 + [D("50")]
    assert [c.after_previous_fill for c in plan.children] == [False] + [True] * 5
    assert all(c.order_type is OrderType.LIMIT for c in plan.children)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"algo": ExecutionAlgo.ICEBERG, "display_quantity": D("100")},  # no limit price
        {"algo": ExecutionAlgo.ICEBERG, "limit_price": D("10")},  # no display quantity
        {"algo": ExecutionAlgo.LIMIT},
        {"algo": ExecutionAlgo.TWAP},  # no slice count
        {"algo": ExecutionAlgo.TWAP, "n_slices": 2, "slice_interval": timedelta(minutes=5)},
        {"algo": ExecutionAlgo.VWAP, "n_slices": 3, "volume_profile": [1, 1]},
        {"algo": ExecutionAlgo.VWAP, "volume_profile": [1, -1]},
        {"algo": ExecutionAlgo.TWAP, "n_slices": 1000},
        {"algo": ExecutionAlgo.MARKET, "limit_price": D("10")},
    ],
)
def test_bad_plans_are_invalid_input(kwargs):
    with pytest.raises(InvalidInput):
        plan_execution(parent(), start=OPEN, end=CLOSE, **kwargs)


def test_fractional_parent_of_whole_share_asset_is_invalid():
    with pytest.raises(InvalidInput):
        plan_execution(
            parent("10.5"), algo=ExecutionAlgo.MARKET, start=OPEN, end=OPEN, fractionable=False
        )


def test_child_ids_are_deterministic_and_fit_the_broker_limit():
    first = plan_execution(parent(), algo=ExecutionAlgo.TWAP, start=OPEN, end=CLOSE, n_slices=5)
    again = plan_execution(parent(), algo=ExecutionAlgo.TWAP, start=OPEN, end=CLOSE, n_slices=5)
    assert first == again
    long_a = "proposal-0123456789abcdef-account-0123456789-AAAA"
    long_b = "proposal-0123456789abcdef-account-0123456789-BBBB"
    id_a, id_b = child_client_order_id(long_a, 7), child_client_order_id(long_b, 7)
    assert len(id_a) == len(id_b) == MAX_CLIENT_ORDER_ID_LENGTH
    assert id_a != id_b
    assert id_a.endswith("-007")
    assert id_a.startswith(long_a[:28])
    assert child_client_order_id(long_a, 7) == id_a
    assert child_client_order_id("p-1", 12) == "p-1-012"


def test_child_intent_keeps_parent_account_side_and_schedules_it():
    plan = plan_execution(
        parent(side=OrderSide.SELL), algo=ExecutionAlgo.TWAP, start=OPEN, end=CLOSE, n_slices=2
    )
    child = plan.child_intent(plan.children[1])
    assert child.side is OrderSide.SELL
    assert child.account_key == "acct-3"
    assert child.not_before == plan.children[1].scheduled_at
    assert child.client_order_id == "prop-7-acct-3-AAA-002"


@settings(max_examples=150, deadline=None)
@given(
    units=st.integers(min_value=1, max_value=10**12),
    fractionable=st.booleans(),
    n_slices=st.integers(min_value=1, max_value=60),
    algo=st.sampled_from([ExecutionAlgo.TWAP, ExecutionAlgo.VWAP]),
    data=st.data(),
)
def test_slices_sum_to_the_parent_exactly_with_no_zero_children(
    units, fractionable, n_slices, algo, data
):
    step = NANO if fractionable else D(1)
    quantity = (step * units).quantize(NANO)
    profile = None
    if algo is ExecutionAlgo.VWAP:
        profile = data.draw(
            st.lists(
                st.floats(min_value=0, max_value=100, allow_nan=False),
                min_size=n_slices,
                max_size=n_slices,
            ).filter(lambda p: sum(p) > 0)
        )
    plan = plan_execution(
        parent(str(quantity)),
        algo=algo,
        start=OPEN,
        end=CLOSE,
        n_slices=n_slices,
        volume_profile=profile,
        fractionable=fractionable,
    )
    sizes = quantities(plan)
    assert sum(sizes) == quantity
    assert all(q > 0 for q in sizes)
    assert all(q == (q / step).to_integral_value() * step for q in sizes)
    assert len(sizes) <= n_slices
    assert [c.sequence for c in plan.children] == list(range(1, len(sizes) + 1))
    assert len({c.client_order_id for c in plan.children}) == len(sizes)
    times = [c.scheduled_at for c in plan.children]
    assert times == sorted(times)
    if profile is not None:
        # Proportional to the profile, within one lot per slice; the largest takes the rest.
        total = sum(profile)
        largest = max(i for i, w in enumerate(profile) if w == max(profile))
        by_time = {c.scheduled_at: c.quantity for c in plan.children}
        slot = (CLOSE - OPEN) / n_slices
        for i, w in enumerate(profile):
            got = by_time.get(OPEN + slot * i, D(0))
            target = quantity * D(repr(w / total))
            if i == largest:
                assert got >= target - step
                assert got - target <= step * n_slices
            else:
                assert abs(got - target) <= step * D("1.000001")
