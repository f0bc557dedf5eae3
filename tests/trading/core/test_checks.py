"""Pre-trade checks: each check's pass / soft / hard outcome, resizing, rounds, batches, hours."""

from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portfolios.core.errors import InvalidInput
from trading.core.checks import (
    CHECKS,
    AccountState,
    CheckName,
    CheckOutcome,
    MarketContext,
    PreTradeDecision,
    RiskLimits,
    check_batch,
    run_pre_trade_checks,
)
from trading.core.orders import OrderIntent, OrderSide, OrderType
from trading.core.sessions import TradingSession

D = Decimal
PASS, SOFT, HARD = CheckOutcome.PASS, CheckOutcome.SOFT_FAIL, CheckOutcome.HARD_FAIL

# Tuesday 5 March 2024, 15:00 UTC = 10:00 in New York (EST): inside the session.
NOW = datetime(2024, 3, 5, 15, 0, tzinfo=UTC)
MARKET = MarketContext(
    session=TradingSession(date(2024, 3, 5)), next_session=TradingSession(date(2024, 3, 6))
)


def account(**overrides) -> AccountState:
    # cash 10,000 + AAA 100 x 50 + BBB 50 x 200 = 25,000
    fields: dict[str, Any] = {
        "account_key": "acct-1",
        "cash": D("10000"),
        "total_value": D("25000"),
        "positions": {"AAA": D("100"), "BBB": D("50")},
        "prices": {"AAA": D("50"), "BBB": D("200"), "CCC": D("10"), "DDD": D("20")},
        "pnl_today": D("0"),
        "average_daily_volume": {"AAA": D("1000000"), "BBB": D("500000"), "CCC": D("10000")},
    }
    fields.update(overrides)
    return AccountState(**fields)


def order(**overrides) -> OrderIntent:
    fields: dict[str, Any] = {
        "client_order_id": "o-1",
        "account_key": "acct-1",
        "symbol": "CCC",
        "side": OrderSide.BUY,
        "quantity": D("100"),
    }
    fields.update(overrides)
    return OrderIntent(**fields)


def run(o=None, *, acct=None, limits=None, market=MARKET, now=NOW, **kwargs):
    return run_pre_trade_checks(
        o if o is not None else order(),
        account=acct if acct is not None else account(),
        limits=limits if limits is not None else RiskLimits(),
        market=market,
        now=now,
        **kwargs,
    )


def final_quantity(decision: PreTradeDecision) -> Decimal:
    assert decision.order is not None
    return decision.order.quantity


def result(decision, name, round_no=1):
    matches = [r for r in decision.results if r.check is name and r.round == round_no]
    assert len(matches) == 1, decision.results
    return matches[0]


def test_clean_order_passes_every_check_in_one_round():
    decision = run(limits=RiskLimits(max_order_notional=D("5000"), max_position_weight=D("0.5")))
    assert decision.outcome is PASS
    assert decision.order == decision.original
    assert decision.rounds == 1
    assert [r.check for r in decision.results] == [name for name, _ in CHECKS]
    assert all(r.outcome is PASS for r in decision.results)
    assert decision.failures == ()


# -- restricted list and ESG ----------------------------------------------------------------


@pytest.mark.parametrize("side", [OrderSide.BUY, OrderSide.SELL])
def test_restricted_symbol_is_a_hard_fail_on_either_side(side):
    decision = run(
        order(symbol="AAA", side=side, quantity=D("10")),
        limits=RiskLimits(restricted_symbols=frozenset({"aaa"})),
    )
    assert decision.outcome is HARD
    assert decision.order is None
    check = result(decision, CheckName.RESTRICTED_LIST)
    assert check.outcome is HARD
    assert "restricted_symbols" in check.message
    assert "AAA" in check.message


def test_esg_exclusion_blocks_buys_and_lets_sells_reduce_exposure():
    limits = RiskLimits(excluded_symbols=frozenset({"AAA"}))
    buy = run(order(symbol="AAA", quantity=D("10")), limits=limits)
    assert buy.outcome is HARD
    assert "excluded_symbols" in result(buy, CheckName.ESG_EXCLUSION).message
    sell = run(order(symbol="AAA", side=OrderSide.SELL, quantity=D("10")), limits=limits)
    assert sell.outcome is PASS
    assert "reduces exposure" in result(sell, CheckName.ESG_EXCLUSION).message


# -- price collar ----------------------------------------------------------------------------


def limit_order(px: str, **overrides) -> OrderIntent:
    return order(order_type=OrderType.LIMIT, limit_price=D(px), **overrides)


def test_limit_price_outside_collar_is_a_hard_fail_naming_limit_and_value():
    decision = run(limit_order("10.60"), limits=RiskLimits(price_collar_pct=D("5")))
    check = result(decision, CheckName.PRICE_COLLAR)
    assert decision.outcome is HARD
    assert check.outcome is HARD
    assert check.limit_value == D("5")
    assert check.observed_value == D("6.00")
    assert "price_collar_pct" in check.message
    assert "6.00%" in check.message
    assert "±5%" in check.message


@pytest.mark.parametrize("px", ["10.40", "9.50", "10.50"])
def test_limit_price_inside_or_on_the_collar_passes(px):
    decision = run(limit_order(px), limits=RiskLimits(price_collar_pct=D("5")))
    assert result(decision, CheckName.PRICE_COLLAR).outcome is PASS
    assert decision.outcome is PASS


def test_market_order_is_estimated_at_the_last_price():
    decision = run(limits=RiskLimits(price_collar_pct=D("5")))
    check = result(decision, CheckName.PRICE_COLLAR)
    assert check.outcome is PASS
    assert check.observed_value == D("10")


def test_order_without_a_last_price_is_a_hard_fail():
    decision = run(order(symbol="ZZZ"))
    assert decision.outcome is HARD
    assert "no last price for ZZZ" in result(decision, CheckName.PRICE_COLLAR).message
    assert decision.results[-1].check is CheckName.PRICE_COLLAR  # the first hard fail ends it


# -- daily loss limit ------------------------------------------------------------------------


def test_daily_loss_limit_blocks_buys_but_not_sells():
    limits = RiskLimits(daily_loss_limit=D("500"))
    losing = account(pnl_today=D("-600"))
    buy = run(acct=losing, limits=limits)
    check = result(buy, CheckName.DAILY_LOSS_LIMIT)
    assert buy.outcome is HARD
    assert check.observed_value == D("-600")
    assert check.limit_value == D("500")
    assert "daily_loss_limit" in check.message
    assert "-600.00" in check.message
    sell = run(
        order(symbol="AAA", side=OrderSide.SELL, quantity=D("10")), acct=losing, limits=limits
    )
    assert sell.outcome is PASS
    assert (
        result(
            run(acct=account(pnl_today=D("-400")), limits=limits), CheckName.DAILY_LOSS_LIMIT
        ).outcome
        is PASS
    )


# -- resizing checks ---------------------------------------------------------------------------


def test_max_order_notional_soft_fail_resizes_then_passes():
    decision = run(limits=RiskLimits(max_order_notional=D("750")))
    first = result(decision, CheckName.MAX_ORDER_NOTIONAL, 1)
    assert first.outcome is SOFT
    assert first.limit_value == D("750")
    assert first.observed_value == D("1000.00")
    assert "max_order_notional" in first.message
    assert "1,000.00" in first.message
    assert "750.00" in first.message
    assert first.adjusted_order.quantity == D("75")
    assert decision.outcome is SOFT
    assert decision.rounds == 2
    assert decision.order.quantity == D("75")
    assert all(r.outcome is PASS for r in decision.results if r.round == 2)


def test_resize_rounds_down_to_nine_places_for_a_limit_order():
    decision = run(limit_order("10.20"), limits=RiskLimits(max_order_notional=D("750")))
    assert decision.order.quantity == D("73.529411764")  # 750 / 10.20 rounded down
    assert decision.order.quantity * D("10.20") <= D("750")


def test_resize_rounds_to_whole_shares_when_not_fractionable():
    market = MarketContext(
        session=MARKET.session,
        next_session=MARKET.next_session,
        non_fractionable=frozenset({"CCC"}),
    )
    decision = run(
        limit_order("10.20"), limits=RiskLimits(max_order_notional=D("750")), market=market
    )
    assert decision.order.quantity == D("73")


def test_resize_to_zero_is_a_hard_fail():
    market = MarketContext(session=MARKET.session, non_fractionable=frozenset({"CCC"}))
    decision = run(limits=RiskLimits(max_order_notional=D("5")), market=market)
    check = result(decision, CheckName.MAX_ORDER_NOTIONAL)
    assert decision.outcome is HARD
    assert check.outcome is HARD
    assert "no quantity" in check.message


def test_adv_fraction_resizes_and_missing_volume_hard_fails():
    decision = run(limits=RiskLimits(max_adv_fraction=D("0.005")))  # ADV 10,000 -> 50 shares
    check = result(decision, CheckName.MAX_ADV_FRACTION)
    assert check.outcome is SOFT
    assert check.observed_value == D("0.01")
    assert "max_adv_fraction" in check.message
    assert decision.order.quantity == D("50")
    missing = run(order(symbol="DDD"), limits=RiskLimits(max_adv_fraction=D("0.005")))
    assert missing.outcome is HARD
    assert "no average daily volume for DDD" in result(missing, CheckName.MAX_ADV_FRACTION).message


def test_position_weight_resizes_a_buy_to_the_room_left():
    # AAA holds 5,000 of 25,000; 25% allows 6,250, so 1,250 of room = 25 shares at 50.
    decision = run(
        order(symbol="AAA", quantity=D("40")), limits=RiskLimits(max_position_weight=D("0.25"))
    )
    check = result(decision, CheckName.MAX_POSITION_WEIGHT)
    assert check.outcome is SOFT
    assert check.observed_value == D("0.28")
    assert check.limit_value == D("0.25")
    assert "max_position_weight" in check.message
    assert decision.order.quantity == D("25")


def test_position_weight_already_over_the_limit_hard_fails_buys_only():
    limits = RiskLimits(max_position_weight=D("0.3"))  # BBB weighs 0.4
    buy = run(order(symbol="BBB", quantity=D("1")), limits=limits)
    assert buy.outcome is HARD
    assert "no room" in result(buy, CheckName.MAX_POSITION_WEIGHT).message
    sell = run(order(symbol="BBB", side=OrderSide.SELL, quantity=D("1")), limits=limits)
    assert sell.outcome is PASS


def test_cash_available_resizes_a_buy_and_hard_fails_without_cash():
    decision = run(order(quantity=D("1200")))
    check = result(decision, CheckName.CASH_AVAILABLE)
    assert check.outcome is SOFT
    assert "cash available" in check.message
    assert "12,000.00" in check.message
    assert decision.order.quantity == D("1000")
    broke = run(acct=account(cash=D("-5")))
    assert broke.outcome is HARD


def test_sell_larger_than_position_is_resized_and_short_sale_hard_fails():
    decision = run(order(symbol="AAA", side=OrderSide.SELL, quantity=D("150")))
    assert result(decision, CheckName.POSITION_AVAILABLE).outcome is SOFT
    assert decision.order.quantity == D("100")
    short = run(order(symbol="DDD", side=OrderSide.SELL, quantity=D("1")))
    assert short.outcome is HARD
    assert "short sales" in result(short, CheckName.POSITION_AVAILABLE).message


def test_fractional_quantity_of_whole_share_asset_is_rounded_down():
    market = MarketContext(session=MARKET.session, non_fractionable=frozenset({"CCC"}))
    decision = run(order(quantity=D("10.5")), market=market)
    assert result(decision, CheckName.LOT_SIZE).outcome is SOFT
    assert decision.order.quantity == D("10")
    assert run(order(quantity=D("0.5")), market=market).outcome is HARD


def test_several_soft_fails_in_one_round_take_the_tightest_size():
    decision = run(
        order(quantity=D("2000")),
        limits=RiskLimits(max_order_notional=D("15000"), max_adv_fraction=D("0.2")),
    )
    soft = [r.check for r in decision.results if r.outcome is SOFT]
    assert soft == [CheckName.MAX_ORDER_NOTIONAL, CheckName.CASH_AVAILABLE]
    # notional 20,000 -> 1,500; ADV 20% = 2,000 then passes; cash 10,000 -> 1,000.
    assert decision.order.quantity == D("1000")
    assert decision.rounds == 2


def test_order_still_adjusting_after_max_rounds_is_a_hard_fail():
    decision = run(limits=RiskLimits(max_order_notional=D("750")), max_rounds=1)
    assert decision.outcome is HARD
    assert decision.order is None
    assert decision.results[-1].check is CheckName.ROUNDS


def test_order_for_another_account_is_invalid_input():
    with pytest.raises(InvalidInput):
        run(order(account_key="acct-2"))


def test_risk_limits_validate_their_values():
    # Floats from settings are accepted and converted through their repr.
    weight = RiskLimits(max_position_weight=0.2).max_position_weight  # type: ignore[arg-type]
    assert weight == D("0.2")
    with pytest.raises(InvalidInput):
        RiskLimits(max_position_weight=D("1.5"))
    with pytest.raises(InvalidInput):
        RiskLimits(max_order_notional=D("-1"))
    with pytest.raises(InvalidInput):
        RiskLimits(restricted_symbols="AAA")  # type: ignore[arg-type]


# -- market hours, in New York time across DST -----------------------------------------------


def market_for(day: date, next_day: date | None = None) -> MarketContext:
    return MarketContext(
        session=TradingSession(day),
        next_session=TradingSession(next_day) if next_day else None,
    )


@pytest.mark.parametrize(
    ("now", "day", "is_open"),
    [
        # 13:45 UTC is 8:45 EST on Friday 8 March, but 9:45 EDT on Monday 11 March (DST began).
        (datetime(2024, 3, 8, 13, 45, tzinfo=UTC), date(2024, 3, 8), False),
        (datetime(2024, 3, 11, 13, 45, tzinfo=UTC), date(2024, 3, 11), True),
        # 20:30 UTC is 16:30 EDT on Friday 1 November, but 15:30 EST on Monday 4 November.
        (datetime(2024, 11, 1, 20, 30, tzinfo=UTC), date(2024, 11, 1), False),
        (datetime(2024, 11, 4, 20, 30, tzinfo=UTC), date(2024, 11, 4), True),
        # 16:00 sharp is closed; 9:30 sharp is open.
        (datetime(2024, 7, 16, 20, 0, tzinfo=UTC), date(2024, 7, 16), False),
        (datetime(2024, 7, 16, 13, 30, tzinfo=UTC), date(2024, 7, 16), True),
    ],
)
def test_market_hours_are_compared_in_new_york_across_dst(now, day, is_open):
    decision = run(market=market_for(day), now=now)
    check = result(decision, CheckName.MARKET_HOURS)
    assert (check.outcome is PASS) is is_open


def test_before_the_open_an_order_is_deferred_to_the_open():
    now = datetime(2024, 1, 16, 14, 15, tzinfo=UTC)  # 9:15 EST
    decision = run(market=market_for(date(2024, 1, 16), date(2024, 1, 17)), now=now)
    check = result(decision, CheckName.MARKET_HOURS)
    assert check.outcome is SOFT
    assert "market_hours" in check.message
    assert "2024-01-16 09:30 EST" in check.message
    assert decision.outcome is SOFT
    assert decision.order.not_before == datetime(2024, 1, 16, 14, 30, tzinfo=UTC)
    assert result(decision, CheckName.MARKET_HOURS, 2).outcome is PASS


def test_after_the_close_an_order_is_deferred_to_the_next_session_across_dst_end():
    now = datetime(2024, 11, 1, 20, 30, tzinfo=UTC)  # Friday 16:30 EDT
    decision = run(market=market_for(date(2024, 11, 1), date(2024, 11, 4)), now=now)
    # Monday's 9:30 is EST again: 14:30 UTC.
    assert decision.order.not_before == datetime(2024, 11, 4, 14, 30, tzinfo=UTC)


def test_after_the_close_without_a_next_session_is_a_hard_fail():
    now = datetime(2024, 7, 16, 21, 0, tzinfo=UTC)
    assert run(market=market_for(date(2024, 7, 16)), now=now).outcome is HARD


def test_holiday_defers_to_the_next_session():
    market = MarketContext(session=None, next_session=TradingSession(date(2024, 7, 5)))
    decision = run(market=market, now=datetime(2024, 7, 4, 15, 0, tzinfo=UTC))
    assert decision.order.not_before == datetime(2024, 7, 5, 13, 30, tzinfo=UTC)


def test_early_close_session():
    market = MarketContext(session=TradingSession(date(2024, 11, 29), close_time=time(13, 0)))
    late = datetime(2024, 11, 29, 18, 30, tzinfo=UTC)  # 13:30 EST, after the early close
    assert run(market=market, now=late).outcome is HARD


def test_market_orders_outside_hours_hard_fail_when_limits_say_so():
    limits = RiskLimits(reject_market_orders_outside_hours=True, price_collar_pct=D("5"))
    now = datetime(2024, 1, 16, 14, 15, tzinfo=UTC)
    market = market_for(date(2024, 1, 16))
    decision = run(limits=limits, market=market, now=now)
    assert decision.outcome is HARD
    assert "reject_market_orders_outside_hours" in result(decision, CheckName.MARKET_HOURS).message
    limit = run(limit_order("10.10"), limits=limits, market=market, now=now)
    assert limit.outcome is SOFT


def test_allow_outside_hours_passes():
    now = datetime(2024, 1, 16, 23, 0, tzinfo=UTC)
    decision = run(
        limits=RiskLimits(allow_outside_hours=True), market=market_for(date(2024, 1, 16)), now=now
    )
    assert decision.outcome is PASS
    assert "allow_outside_hours" in result(decision, CheckName.MARKET_HOURS).message


def test_naive_now_is_rejected():
    with pytest.raises(InvalidInput):
        run(now=datetime(2024, 3, 5, 10, 0))  # noqa: DTZ001 - the point of the test


# -- batches: sells before buys --------------------------------------------------------------


def test_batch_runs_sells_first_so_buys_see_the_cash_they_free():
    acct = account(cash=D("1000"))
    buy = order(client_order_id="buy-ccc", quantity=D("150"))  # 1,500 at 10
    sell = order(client_order_id="sell-aaa", symbol="AAA", side=OrderSide.SELL, quantity=D("20"))
    batch = check_batch([buy, sell], account=acct, limits=RiskLimits(), market=MARKET, now=NOW)
    assert [d.original.client_order_id for d in batch.decisions] == ["sell-aaa", "buy-ccc"]
    assert batch.decision_for("buy-ccc").outcome is PASS
    assert final_quantity(batch.decision_for("buy-ccc")) == D("150")
    assert batch.account_after.cash == D("500")  # 1,000 + 1,000 - 1,500
    assert batch.account_after.positions["AAA"] == D("80")
    assert batch.account_after.positions["CCC"] == D("150")
    assert batch.account_after.total_value == D("25000")
    # Alone, the buy only fits the 1,000 of cash.
    alone = check_batch([buy], account=acct, limits=RiskLimits(), market=MARKET, now=NOW)
    assert final_quantity(alone.decisions[0]) == D("100")


def test_batch_earlier_buys_consume_cash_for_later_buys():
    acct = account(cash=D("1500"))
    first = order(client_order_id="b1", quantity=D("100"))
    second = order(client_order_id="b2", symbol="DDD", quantity=D("50"))  # 1,000 at 20
    batch = check_batch([first, second], account=acct, limits=RiskLimits(), market=MARKET, now=NOW)
    assert batch.decisions[0].outcome is PASS
    assert batch.decisions[1].outcome is SOFT
    assert final_quantity(batch.decisions[1]) == D("25")
    assert batch.account_after.cash == D("0")
    assert batch.accepted_orders == (first, second.with_quantity(D("25")))


def test_batch_limit_order_moves_total_value_by_price_difference():
    acct = account()
    buy = order(order_type=OrderType.LIMIT, limit_price=D("10.50"), quantity=D("100"))
    batch = check_batch([buy], account=acct, limits=RiskLimits(), market=MARKET, now=NOW)
    assert batch.account_after.cash == D("8950")
    assert batch.account_after.total_value == D("24950")  # paid 1,050 for 1,000 of value


def test_batch_rejects_duplicate_client_order_ids():
    with pytest.raises(InvalidInput):
        check_batch(
            [order(), order()], account=account(), limits=RiskLimits(), market=MARKET, now=NOW
        )


# -- property: whatever survives satisfies every numeric limit ---------------------------------


@settings(max_examples=60, deadline=None)
@given(
    quantity=st.decimals(min_value="0.001", max_value="5000", places=3),
    cash=st.decimals(min_value=0, max_value=20000, places=2),
    max_notional=st.decimals(min_value=1, max_value=20000, places=2),
    max_adv=st.decimals(min_value="0.0001", max_value="0.5", places=4),
    max_weight=st.decimals(min_value="0.01", max_value=1, places=2),
    fractionable=st.booleans(),
)
def test_accepted_orders_respect_every_numeric_limit(
    quantity, cash, max_notional, max_adv, max_weight, fractionable
):
    acct = account(cash=cash)
    limits = RiskLimits(
        max_order_notional=max_notional, max_adv_fraction=max_adv, max_position_weight=max_weight
    )
    market = MarketContext(
        session=MARKET.session, non_fractionable=frozenset() if fractionable else frozenset({"AAA"})
    )
    decision = run(order(symbol="AAA", quantity=quantity), acct=acct, limits=limits, market=market)
    if decision.order is None:
        assert decision.outcome is HARD
        return
    final = decision.order.quantity
    assert 0 < final <= quantity
    assert final * D(50) <= max_notional
    assert final * D(50) <= cash
    assert final <= D(1000000) * max_adv
    assert (D(100) + final) * D(50) <= max_weight * D(25000)
    assert fractionable or final == final.to_integral_value()
    assert decision.outcome is (PASS if final == quantity else SOFT)
