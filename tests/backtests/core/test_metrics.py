"""Measures against hand computations and closed forms."""

import math
from datetime import date

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backtests.core import metrics
from backtests.core.markets import business_days, constant_growth
from portfolios.core.errors import InvalidInput


def _series(values, start="2020-01-01", freq="D"):
    return pd.Series(
        values, index=pd.date_range(start, periods=len(values), freq=freq), dtype=float
    )


def test_constant_growth_has_its_cagr_and_no_drawdown():
    days = business_days(date(2010, 1, 4), date(2014, 12, 31))
    values = constant_growth(days, rate=0.05, start_price=1000.0)
    perf = metrics.performance(values, risk_free_rate=0.0)
    assert perf.cagr == pytest.approx(0.05, abs=1e-12)
    assert perf.max_drawdown == 0.0
    assert perf.calmar is None  # no drawdown: undefined
    assert perf.volatility < 0.01  # only the weekend steps make the daily returns unequal


def test_performance_by_hand():
    values = _series([100.0, 110.0, 99.0, 121.0])
    perf = metrics.performance(values)
    returns = np.array([0.1, -0.1, 121 / 99 - 1])
    assert perf.total_return == pytest.approx(0.21)
    assert perf.cagr == pytest.approx(1.21 ** (365.25 / 3) - 1)
    assert perf.max_drawdown == pytest.approx(0.1)
    assert perf.volatility == pytest.approx(np.std(returns, ddof=1) * math.sqrt(252))
    assert perf.sharpe == pytest.approx(returns.mean() / np.std(returns, ddof=1) * math.sqrt(252))
    downside = math.sqrt(np.mean(np.minimum(returns, 0) ** 2))
    assert perf.sortino == pytest.approx(returns.mean() / downside * math.sqrt(252))
    assert perf.calmar == pytest.approx(perf.cagr / 0.1)


def test_calendar_year_returns():
    values = pd.Series(
        [100.0, 120.0, 90.0, 99.0],
        index=pd.to_datetime(["2020-06-01", "2020-12-31", "2021-03-01", "2021-12-31"]),
    )
    assert metrics.calendar_year_returns(values) == {
        2020: pytest.approx(0.2),
        2021: pytest.approx(99 / 120 - 1),
    }


@pytest.mark.parametrize(
    ("st_", "lt", "deductible", "expected"),
    [
        (1000.0, 2000.0, 0.0, 1000 * 0.32 + 2000 * 0.15),  # both gains at their rates
        (-500.0, 2000.0, 0.0, 1500 * 0.15),  # a short loss offsets the long gain
        (3000.0, -1000.0, 0.0, 2000 * 0.32),  # a long loss offsets the short gain
        (-5000.0, 1000.0, 3000.0, -3000 * 0.32),  # net loss: the deduction saves ordinary tax
        (0.0, 0.0, 0.0, 0.0),
    ],
)
def test_tax_due(st_, lt, deductible, expected):
    tax = metrics.tax_due(
        net_short_term=st_,
        net_long_term=lt,
        deductible_loss=deductible,
        short_rate=0.32,
        long_rate=0.15,
    )
    assert tax == pytest.approx(expected)


def test_liquidation_tax_nets_with_the_final_year():
    # Realised: a short-term loss of 2,000. Liquidating adds a long-term gain of 10,000.
    extra = metrics.liquidation_tax(
        net_short_term=-2000.0,
        net_long_term=0.0,
        unrealised_short=0.0,
        unrealised_long=10000.0,
        loss_limit=3000.0,
        short_rate=0.32,
        long_rate=0.15,
    )
    # Before: -2,000 deducted (saves 640). After: 8,000 long-term gain (tax 1,200).
    assert extra == pytest.approx(8000 * 0.15 + 2000 * 0.32)
    left = metrics.carryforward_after_liquidation(
        net_short_term=-20000.0,
        net_long_term=0.0,
        unrealised_short=0.0,
        unrealised_long=5000.0,
        loss_limit=3000.0,
    )
    assert left == pytest.approx(12000.0)


def test_after_tax_wealth_pays_each_year_pro_rata():
    values = pd.Series(
        [100.0, 110.0, 121.0, 133.1],
        index=pd.to_datetime(["2020-01-02", "2020-12-31", "2021-06-30", "2021-12-31"]),
    )
    wealth = metrics.after_tax_wealth(values, {2020: 11.0, 2021: 0.0}, liquidation=13.31)
    # 2020's tax is 10% of the account on its last day; then W follows V; the liquidation takes
    # another 10% of the account at the end.
    assert wealth.iloc[1] == pytest.approx(99.0)
    assert wealth.iloc[2] == pytest.approx(99.0 * 1.1)
    assert wealth.iloc[3] == pytest.approx(99.0 * 1.21 * 0.9)
    untaxed = metrics.after_tax_wealth(values, {})
    assert untaxed.to_numpy() == pytest.approx(values.to_numpy())


def test_turnover_costs_and_tracking_by_hand():
    values = _series([100.0, 100.0, 100.0], start="2020-01-01", freq="182D")
    turnover = metrics.turnover({date(2020, 3, 1): 50.0, date(2020, 9, 1): -30.0}, values)
    years = (values.index[-1] - values.index[0]).days / 365.25
    assert turnover == pytest.approx(80 / 2 / 100 / years)
    fills = [
        metrics.FillCost(date(2020, 1, 2), "buy", 10, 101.0, 1.0, 100.0),
        metrics.FillCost(date(2020, 1, 3), "sell", 5, 99.0, 0.5, 100.0),
    ]
    assert metrics.execution_costs(fills) == pytest.approx(1.0 + 10 + 0.5 + 5)


def test_target_returns_rebalance_daily():
    closes = pd.DataFrame(
        {"A": [100.0, 110.0, 99.0], "B": [50.0, 50.0, 55.0]},
        index=pd.to_datetime(["2020-01-02", "2020-01-03", "2020-01-06"]),
    )
    returns = metrics.target_returns(closes, [(date(2020, 1, 2), {"A": 0.5, "B": 0.5})])
    assert returns.to_numpy() == pytest.approx([0.5 * 0.1, 0.5 * -0.1 + 0.5 * 0.1])
    later = metrics.target_returns(closes, [(date(2020, 1, 3), {"B": 1.0})])
    assert later.to_numpy() == pytest.approx([0.0, 0.1])


def test_regime_breakdown_files_each_day_under_its_regime():
    returns = _series([0.01, -0.02, 0.03, 0.0])
    regimes = pd.Series(["low", "high", "high", None], index=returns.index)
    rows = {r["regime"]: r for r in metrics.regime_breakdown(returns, regimes)}
    assert rows["low"]["days"] == 1 and rows["high"]["days"] == 2 and rows["normal"]["days"] == 0
    assert rows["high"]["share"] == pytest.approx(2 / 3)
    assert rows["high"]["worst_day"] == pytest.approx(-0.02)


def test_harvest_value_per_year():
    index = pd.to_datetime(["2020-01-02", "2020-12-31", "2021-12-31"])
    with_ = pd.Series([100.0, 110.0, 121.0], index=index)
    without = pd.Series([100.0, 105.0, 115.5], index=index)
    value = metrics.harvest_value(with_, without)
    assert value["per_year"][2020] == pytest.approx(0.10 - 0.05)
    assert value["per_year"][2021] == pytest.approx(0.10 - 0.10)
    assert value["cagr"] > 0


def test_bad_values_are_refused():
    with pytest.raises(InvalidInput):
        metrics.performance(_series([100.0]))
    with pytest.raises(InvalidInput):
        metrics.performance(_series([100.0, float("nan"), 101.0]))
    with pytest.raises(InvalidInput):
        metrics.performance(_series([100.0, -1.0]))


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.floats(min_value=-0.2, max_value=0.2), min_size=2, max_size=60),
    st.floats(min_value=0.01, max_value=1e6),
)
def test_measures_do_not_depend_on_the_account_size(returns, scale):
    values = _series(np.cumprod(np.concatenate([[1.0], 1.0 + np.asarray(returns)])))
    a, b = metrics.performance(values), metrics.performance(values * scale)
    assert a.cagr == pytest.approx(b.cagr, rel=1e-9, abs=1e-12)
    assert a.max_drawdown == pytest.approx(b.max_drawdown, abs=1e-12)
    assert 0.0 <= a.max_drawdown < 1.0
