"""Time-weighted returns rebuilt from the ledger and daily closes, checked against closed forms."""

import datetime as dt
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from advisor.models import RiskProfile
from advisor.services.performance import (
    benchmark_parts,
    household_performance,
    time_weighted_returns,
)
from portfolios.models import AssetClass, FirmSettings, SecurityType, TransactionKind
from tests.factories import (
    AccountFactory,
    AssetFactory,
    ClientFactory,
    PriceBarFactory,
    RiskProfileFactory,
    TransactionFactory,
)

pytestmark = pytest.mark.django_db

START = dt.date(2024, 1, 1)
DAYS = 60
GROWTH = 0.002  # a day


def day(n: int) -> dt.date:
    return START + dt.timedelta(days=n)


def px(n: int, growth: float = GROWTH) -> Decimal:
    return Decimal(f"{100 * (1 + growth) ** n:.6f}")


@pytest.fixture
def fund():
    asset = AssetFactory(symbol="GROW", asset_class=AssetClass.US_EQUITY)
    for n in range(DAYS + 1):
        PriceBarFactory(asset=asset, date=day(n), close=px(n), low=px(n), high=px(n), open=px(n))
    return asset


@pytest.fixture
def flat():
    asset = AssetFactory(symbol="FLAT", asset_class=AssetClass.BOND)
    for n in range(DAYS + 1):
        PriceBarFactory(asset=asset, date=day(n), close=Decimal("50"), volume=10)
    return asset


def deposit(account, n, amount):
    return TransactionFactory(
        account=account,
        kind=TransactionKind.DEPOSIT,
        asset=None,
        quantity=None,
        price=None,
        amount=Decimal(amount),
        trade_date=day(n),
    )


def trade(account, asset, n, quantity, price, kind=TransactionKind.BUY):
    quantity, price = Decimal(quantity), Decimal(price)
    sign = -1 if kind == TransactionKind.BUY else 1
    amount = Decimal(0) if kind == TransactionKind.TRANSFER_IN else sign * quantity * price
    return TransactionFactory(
        account=account,
        kind=kind,
        asset=asset,
        quantity=quantity,
        price=price,
        amount=amount.quantize(Decimal("0.01")),
        trade_date=day(n),
    )


def test_constant_growth_gives_the_compound_return(fund):
    account = AccountFactory(cash=Decimal("0"))
    deposit(account, 0, "10000.00")
    trade(account, fund, 0, "100", px(0))
    perf = household_performance(household_id=account.household_id)
    assert perf.start == day(0) and perf.end == day(DAYS)
    assert perf.total_return == pytest.approx((1 + GROWTH) ** DAYS - 1, rel=1e-6)
    expected_daily = np.r_[0.0, np.full(DAYS, GROWTH)]
    assert perf.daily_return.to_numpy() == pytest.approx(expected_daily, abs=1e-7)
    assert float(perf.value.iloc[-1]) == pytest.approx(100 * float(px(DAYS)), rel=1e-9)


def test_a_deposit_does_not_count_as_performance(fund):
    account = AccountFactory(cash=Decimal("0"))
    deposit(account, 0, "10000.00")
    trade(account, fund, 0, "100", px(0))
    # Day 30: 50 000 more arrives and is invested at that day's close.
    deposit(account, 30, "50000.00")
    shares = (Decimal("50000") / px(30)).quantize(Decimal("0.000000001"))
    trade(account, fund, 30, shares, px(30))
    perf = household_performance(household_id=account.household_id)
    assert perf.total_return == pytest.approx((1 + GROWTH) ** DAYS - 1, rel=1e-5)
    assert float(perf.net_flow.loc[day(30)]) == pytest.approx(50000.0)
    growth_of_value = float(perf.value.iloc[-1]) / float(perf.value.iloc[0]) - 1
    assert growth_of_value > 5  # the value grew sixfold; the return did not


def test_money_that_only_moves_in_and_out_earns_nothing(flat):
    account = AccountFactory(cash=Decimal("0"))
    deposit(account, 0, "1000.00")
    trade(account, flat, 0, "10", "50")
    deposit(account, 10, "2500.00")
    deposit(account, 20, "400.00")
    TransactionFactory(
        account=account,
        kind=TransactionKind.WITHDRAWAL,
        asset=None,
        quantity=None,
        price=None,
        amount=Decimal("-700.00"),
        trade_date=day(25),
    )
    perf = household_performance(household_id=account.household_id)
    assert perf.total_return == pytest.approx(0.0, abs=1e-12)
    assert float(perf.value.iloc[-1]) == pytest.approx(1000 + 2500 + 400 - 700)


def test_holdings_transferred_in_are_a_flow_not_a_gain(fund):
    account = AccountFactory(cash=Decimal("0"))
    deposit(account, 0, "10000.00")
    trade(account, fund, 0, "100", px(0))
    # Shares bought long ago at 20 arrive on day 40: their old gain is not this portfolio's.
    trade(account, fund, 40, "500", "20", kind=TransactionKind.TRANSFER_IN)
    perf = household_performance(household_id=account.household_id)
    assert perf.total_return == pytest.approx((1 + GROWTH) ** DAYS - 1, rel=1e-5)
    assert float(perf.net_flow.loc[day(40)]) == pytest.approx(500 * float(px(40)), rel=1e-9)


def test_a_lot_from_before_the_price_history_enters_at_its_cost(fund):
    account = AccountFactory(cash=Decimal("0"))
    long_ago = START - dt.timedelta(days=400)
    TransactionFactory(
        account=account,
        kind=TransactionKind.TRANSFER_IN,
        asset=fund,
        quantity=Decimal("10"),
        price=Decimal("80"),
        amount=Decimal("0"),
        trade_date=long_ago,
    )
    perf = household_performance(household_id=account.household_id)
    assert perf.start == long_ago
    assert float(perf.value.loc[long_ago]) == pytest.approx(800.0)
    # Nothing is earned until a close is known; from then on the fund's growth.
    expected = (float(px(DAYS)) / 80.0) - 1
    assert perf.total_return == pytest.approx(expected, rel=1e-6)


def test_dividends_and_fees_count_as_performance(flat):
    account = AccountFactory(cash=Decimal("0"))
    deposit(account, 0, "1000.00")
    trade(account, flat, 0, "20", "50")
    TransactionFactory(
        account=account,
        kind=TransactionKind.DIVIDEND,
        asset=flat,
        quantity=None,
        price=None,
        amount=Decimal("30.00"),
        trade_date=day(15),
    )
    perf = household_performance(household_id=account.household_id)
    assert perf.total_return == pytest.approx(0.03, rel=1e-12)


def test_time_weighted_returns_formula():
    days = pd.Index([day(0), day(1), day(2), day(3)])
    values = pd.Series([100.0, 110.0, 215.0, 0.0], index=days)
    flows = pd.Series([100.0, 0.0, 100.0, -215.0], index=days)
    r = time_weighted_returns(values, flows)
    assert r.tolist() == pytest.approx([0.0, 0.1, (215 - 100) / 110 - 1, 0.0])


def test_the_firms_benchmark_or_else_the_most_traded_us_equity_fund(fund, flat):
    quiet = AssetFactory(symbol="QUIET", asset_class=AssetClass.US_EQUITY)
    PriceBarFactory(asset=quiet, date=day(DAYS), close=Decimal("10"), volume=1)
    stock = AssetFactory(
        symbol="BIGCO", asset_class=AssetClass.US_EQUITY, security_type=SecurityType.STOCK
    )
    PriceBarFactory(asset=stock, date=day(DAYS), close=Decimal("1000"), volume=10**9)
    account = AccountFactory(cash=Decimal("0"))  # its household has no risk profile
    # the stock trades more, but is not a fund
    assert benchmark_parts(household_id=account.household_id) == [(fund, 1.0)]
    firm = FirmSettings.current()
    firm.benchmark_symbol = "quiet"  # matched whatever its case
    firm.save()
    assert benchmark_parts(household_id=account.household_id) == [(quiet, 1.0)]
    deposit(account, 0, "1000.00")
    trade(account, flat, 0, "20", "50")
    firm.benchmark_symbol = "GROW"
    firm.save()
    perf = household_performance(household_id=account.household_id)
    assert perf.benchmark_symbol == "GROW"
    assert perf.benchmark_total_return == pytest.approx((1 + GROWTH) ** DAYS - 1, rel=1e-6)


def test_a_household_without_transactions_has_no_series():
    account = AccountFactory()
    perf = household_performance(household_id=account.household_id)
    assert perf.is_empty and perf.total_return is None and perf.start is None


def _profiled_account(equity: str, bond: str, cash: str):
    account = AccountFactory(cash=Decimal("0"))
    RiskProfileFactory(
        client=ClientFactory(household=account.household),
        equity_weight=Decimal(equity),
        bond_weight=Decimal(bond),
        cash_weight=Decimal(cash),
    )
    deposit(account, 0, "1000.00")
    return account


def test_a_household_with_a_risk_profile_is_measured_against_its_policy_blend(fund, flat):
    """60/30/10 in the most traded equity, bond and cash funds, rebalanced daily: with the bond
    and cash funds flat, the blend earns 60 % of the equity fund's daily return, compounded."""
    money = AssetFactory(symbol="MMKT", asset_class=AssetClass.CASH)
    for n in range(DAYS + 1):
        PriceBarFactory(asset=money, date=day(n), close=Decimal("1"), volume=5)
    account = _profiled_account("0.60", "0.30", "0.10")
    perf = household_performance(household_id=account.household_id)
    assert perf.benchmark_parts == (("GROW", 0.6), ("FLAT", 0.3), ("MMKT", 0.1))
    assert perf.benchmark_name == "60% GROW, 30% FLAT, 10% MMKT" and perf.benchmark_is_blend
    assert perf.benchmark_total_return == pytest.approx((1 + 0.6 * GROWTH) ** DAYS - 1, rel=1e-6)
    # rebalanced daily: not the 60/30/10 mix of each fund's whole-period return
    assert perf.benchmark_total_return != pytest.approx(0.6 * ((1 + GROWTH) ** DAYS - 1), rel=1e-6)

    # the firm's own benchmark fund, when it names one, is every household's
    firm = FirmSettings.current()
    firm.benchmark_symbol = "FLAT"
    firm.save()
    perf = household_performance(household_id=account.household_id)
    assert perf.benchmark_parts == (("FLAT", 1.0),) and not perf.benchmark_is_blend
    assert perf.benchmark_name == "FLAT" and perf.benchmark_total_return == 0.0


def test_a_sleeve_without_a_fund_and_a_fund_before_its_first_close_are_held_as_cash(fund):
    """No cash fund: the cash share is held as cash. A bond fund listed on day 10: its share is
    cash until then, so the blend covers the household's whole period, from day 0."""
    late = AssetFactory(symbol="LATE", asset_class=AssetClass.BOND)
    for n in range(10, DAYS + 1):
        PriceBarFactory(asset=late, date=day(n), close=px(n - 10, 0.001), volume=10)
    account = _profiled_account("0.50", "0.40", "0.10")
    perf = household_performance(household_id=account.household_id)
    assert perf.total_return == 0.0  # a household that has only deposited cash
    assert perf.benchmark_parts == (("GROW", 0.5), ("LATE", 0.4))
    assert perf.benchmark_name == "50% GROW, 40% LATE, 10% cash"
    bench = perf.benchmark_return
    assert bench.notna().all() and bench.loc[day(0)] == 0.0
    expected = (1 + 0.5 * GROWTH) ** 10 * (1 + 0.5 * GROWTH + 0.4 * 0.001) ** (DAYS - 10) - 1
    assert perf.benchmark_total_return == pytest.approx(expected, rel=1e-6)


def test_the_most_traded_fund_of_a_sleeve_is_the_largest_traded_value_summed(fund, flat):
    """A bond fund listed yesterday with one busy day does not outrank one that trades daily;
    the firm's symbol is matched whatever its case."""
    busy_day = AssetFactory(symbol="NEWB", asset_class=AssetClass.BOND)
    PriceBarFactory(asset=busy_day, date=day(DAYS), close=Decimal("50"), volume=200)
    account = _profiled_account("0.60", "0.40", "0")
    perf = household_performance(household_id=account.household_id)
    assert perf.benchmark_parts == (("GROW", 0.6), ("FLAT", 0.4))  # 61 x 10 x 50 > 200 x 50
    firm = FirmSettings.current()
    firm.benchmark_symbol = "grow"
    firm.save()
    assert household_performance(household_id=account.household_id).benchmark_parts == (
        ("GROW", 1.0),
    )


def test_a_household_that_has_only_deposited_cash_has_a_flat_series(fund):
    """A new client's first deposit, before any trade (this raised inside pandas)."""
    account = AccountFactory(cash=Decimal("0"))
    deposit(account, 0, "5000.00")
    perf = household_performance(household_id=account.household_id)
    assert perf.total_return == 0.0 and float(perf.value.iloc[-1]) == 5000.0


def test_the_cached_performance_follows_a_change_of_the_risk_profiles_split(fund, flat):
    from advisor.portal_selectors import household_performance_cached, performance_fingerprint

    account = _profiled_account("0.60", "0.40", "0")
    household = account.household_id
    before = performance_fingerprint(household_id=household)
    assert household_performance_cached(household_id=household).benchmark_parts == (
        ("GROW", 0.6),
        ("FLAT", 0.4),
    )
    RiskProfile.objects.filter(client__household_id=household).update(
        equity_weight=Decimal("0.3"), bond_weight=Decimal("0.7")
    )
    assert performance_fingerprint(household_id=household) != before
    assert household_performance_cached(household_id=household).benchmark_parts == (
        ("GROW", 0.3),
        ("FLAT", 0.7),
    )
