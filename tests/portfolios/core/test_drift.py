from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portfolios.core.drift import (
    CASH_SLOT,
    AccountSnapshot,
    RebalancePolicy,
    Trigger,
    drift,
    plan_rebalance,
    tolerance,
)
from portfolios.core.errors import InvalidInput

D = Decimal
NO_BUFFER = RebalancePolicy(cash_buffer=0.0, drift_threshold=0.05, min_trade_notional=D("10"))
PRICES = {"EQ": D("100"), "BD": D("50"), "EQ2": D("20"), "OLD": D("10")}


def snap(holdings, cash="0", targets=None, **kw):
    return AccountSnapshot(
        holdings={k: D(v) for k, v in holdings.items()},
        prices=PRICES,
        cash=D(cash),
        targets=targets or {"EQ": 0.5, "BD": 0.5},
        **kw,
    )


def test_drift_is_half_the_absolute_deviation():
    assert drift({"a": 0.6, "b": 0.4}, {"a": 0.5, "b": 0.5}) == pytest.approx(0.1)
    assert drift({"a": 1.0}, {"b": 1.0}) == pytest.approx(1.0)


def test_in_balance_needs_nothing():
    plan = plan_rebalance(snap({"EQ": "50", "BD": "100"}), NO_BUFFER)
    assert plan.trigger is Trigger.NONE and plan.trades == ()
    assert plan.drift_before == pytest.approx(0.0)


def test_drift_sells_overweights_to_target_then_buys():
    # 70/30 against 50/50: drift 0.2 > 0.05
    plan = plan_rebalance(snap({"EQ": "70", "BD": "60"}), NO_BUFFER)
    assert plan.trigger is Trigger.DRIFT
    assert [(t.side, t.symbol, t.quantity) for t in plan.trades] == [
        ("sell", "EQ", D("20")),
        ("buy", "BD", D("40")),
    ]
    assert plan.drift_before == pytest.approx(0.2)
    assert plan.drift_after == pytest.approx(0.0, abs=1e-9)


def test_a_deposit_buys_underweights_without_selling():
    plan = plan_rebalance(snap({"EQ": "50", "BD": "80"}, cash="2000"), NO_BUFFER)
    assert plan.trigger is Trigger.DRIFT or plan.trigger is Trigger.CASH_FLOW
    assert all(t.side == "buy" for t in plan.trades)
    spent = sum(t.quantity * t.price for t in plan.trades)
    assert spent <= D("2000")


def test_small_deposit_within_bands_is_a_cash_flow():
    policy = RebalancePolicy(
        cash_buffer=0.0, drift_threshold=0.05, band_absolute=0.05, min_trade_notional=D("10")
    )
    plan = plan_rebalance(snap({"EQ": "50", "BD": "100"}, cash="300"), policy)
    assert plan.trigger is Trigger.CASH_FLOW
    assert {t.symbol for t in plan.trades} == {"EQ", "BD"} and all(
        t.side == "buy" for t in plan.trades
    )


def test_withdrawal_sells_overweights_first():
    plan = plan_rebalance(snap({"EQ": "60", "BD": "80"}, withdrawal=D("1000")), NO_BUFFER)
    assert plan.trigger is Trigger.WITHDRAWAL
    assert [(t.side, t.symbol) for t in plan.trades] == [("sell", "EQ")]
    assert plan.trades[0].quantity == D("10")


def test_withdrawal_larger_than_the_account_is_refused():
    with pytest.raises(InvalidInput, match="exceeds the account's value"):
        plan_rebalance(snap({"EQ": "1"}, withdrawal=D("1000")), NO_BUFFER)


def test_an_alternate_counts_towards_its_slot():
    slots = {"EQ": "us", "EQ2": "us", "BD": "bonds"}
    plan = plan_rebalance(snap({"EQ2": "250", "BD": "100"}, slot_of=slots), NO_BUFFER)
    assert plan.trades == ()
    assert plan.slot_weights_before["us"] == pytest.approx(0.5)


def test_a_blocked_target_is_bought_through_an_unblocked_alternate():
    slots = {"EQ": "us", "EQ2": "us", "BD": "bonds"}
    plan = plan_rebalance(
        snap(
            {"BD": "100"},
            cash="5000",
            slot_of=slots,
            slot_members={"us": ["EQ2"]},
            blocked=frozenset({"EQ"}),
        ),
        NO_BUFFER,
    )
    assert {t.symbol for t in plan.buys} == {"EQ2"}
    blocked_all = plan_rebalance(
        snap(
            {"BD": "100"},
            cash="5000",
            slot_of=slots,
            slot_members={"us": ["EQ2"]},
            blocked=frozenset({"EQ", "EQ2"}),
        ),
        NO_BUFFER,
    )
    assert not blocked_all.buys and any("blocked" in n for n in blocked_all.notes)


def test_tax_impact_widens_the_band_of_an_overweight():
    policy = RebalancePolicy(
        cash_buffer=0.0, drift_threshold=0.5, band_absolute=0.03, band_relative=1.0
    )
    holdings = {"EQ": "54", "BD": "92"}  # EQ 54%, 4 points over
    assert plan_rebalance(snap(holdings), policy).trigger is Trigger.DRIFT
    widened = plan_rebalance(snap(holdings, tax_impact={"EQ": 0.5, "BD": 0.0}), policy)
    assert widened.trigger is Trigger.NONE
    assert tolerance(0.5, policy, overweight=True, tax_impact=0.5) == pytest.approx(0.045)


def test_untargeted_legacy_holdings_are_sold():
    plan = plan_rebalance(snap({"EQ": "50", "BD": "90", "OLD": "100"}), NO_BUFFER)
    assert ("sell", "OLD", D("100")) in [(t.side, t.symbol, t.quantity) for t in plan.trades]


def test_minimum_trade_size_and_whole_shares():
    policy = RebalancePolicy(
        cash_buffer=0.0, drift_threshold=0.0, band_absolute=0.0, min_trade_notional=D("500")
    )
    plan = plan_rebalance(snap({"EQ": "50", "BD": "99"}, cash="60"), policy)
    assert plan.trades == ()
    whole = plan_rebalance(
        snap({"BD": "100"}, cash="5050", whole_shares=frozenset({"EQ"})), NO_BUFFER
    )
    eq = next(t for t in whole.buys if t.symbol == "EQ")
    assert eq.quantity == eq.quantity.to_integral_value()


def test_cash_buffer_is_kept():
    policy = RebalancePolicy(cash_buffer=0.02, drift_threshold=0.05, min_trade_notional=D("10"))
    plan = plan_rebalance(snap({}, cash="10000"), policy)
    spent = sum(t.quantity * t.price for t in plan.buys)
    assert D("10000") - spent >= D("200")
    assert plan.slot_targets[CASH_SLOT] == pytest.approx(0.02)


@settings(max_examples=80, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["EQ", "BD", "EQ2", "OLD"]),
        st.integers(min_value=0, max_value=500),
        max_size=4,
    ),
    st.integers(min_value=0, max_value=20000),
    st.floats(min_value=0.0, max_value=1.0),
)
def test_plans_never_overspend_or_oversell(holdings, cash_amount, eq_weight):
    snapshot = AccountSnapshot(
        holdings={k: D(v) for k, v in holdings.items()},
        prices=PRICES,
        cash=D(cash_amount),
        targets={"EQ": eq_weight, "BD": 1 - eq_weight},
    )
    plan = plan_rebalance(snapshot, RebalancePolicy(min_trade_notional=D("10")))
    cash_left = D(cash_amount)
    for trade in plan.trades:
        if trade.side == "sell":
            assert trade.quantity <= snapshot.holdings[trade.symbol]
            cash_left += trade.quantity * trade.price
    for trade in plan.buys:
        cash_left -= trade.quantity * trade.price
    assert cash_left >= 0
    sides = [t.side for t in plan.trades]
    assert sides == sorted(sides, key=lambda s: s != "sell")  # sells first
    if plan.trigger is Trigger.DRIFT:
        assert plan.drift_after <= plan.drift_before + 1e-9
