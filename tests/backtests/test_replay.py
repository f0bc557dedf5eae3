"""Replays through the live services on closed-form markets (each in its own database)."""

from datetime import date, timedelta
from decimal import Decimal

import pytest

from backtests.core.config import (
    AccountSetup,
    BacktestJob,
    Frequency,
    Schedule,
    strategy_named,
)
from backtests.isolation import run_isolated
from tests.backtests.scenarios import constant_growth_market, fall_and_recover_market

pytestmark = pytest.mark.slow


def _ok(outcome):
    assert "error" not in outcome, outcome.get("trace") or outcome["error"]
    return outcome


def test_constant_growth_gives_its_cagr_and_no_drawdown():
    rate = 0.06
    job = BacktestJob(
        key="steady",
        strategy=strategy_named("equal_weight", cash_buffer=0.0),
        start=date(2015, 1, 5),
        end=date(2016, 12, 30),
        account=AccountSetup(account_value=Decimal("100000")),
    )
    outcome = _ok(run_isolated([job], constant_growth_market(rate), keep_records=True)["steady"])
    m = outcome["summary"]["metrics"]
    # Fully invested (but for the cash a protected buy keeps back) in an asset growing 6% a year.
    assert m["cagr"] == pytest.approx(rate, abs=1e-3)
    # The only fall is the entry's half spread: no drawdown to speak of.
    assert m["max_drawdown"] < 1e-3
    values = outcome["summary"]["series"]["value"]
    entry = 2
    peak = max(values[entry:])
    assert peak == values[-1]
    assert all(
        b >= a * (1 - 1e-6) for a, b in zip(values[entry:], values[entry + 1 :], strict=False)
    )
    # Nothing is sold: no tax is paid along the way, only at the final liquidation.
    assert m["taxes_paid"] == 0 and m["realised_short"] == 0 and m["realised_long"] == 0
    assert m["after_tax_cagr_held"] == pytest.approx(m["cagr"])
    unrealised = outcome["record"]["unrealised"]
    assert m["liquidation_tax"] == pytest.approx(
        0.15 * unrealised["long"] + 0.32 * unrealised["short"], rel=1e-9
    )
    assert m["after_tax_cagr"] < m["cagr"]
    # Every approval is the backtest's system user's, in the audit trail.
    approvals = outcome["log"]["approvals"]
    assert approvals["count"] == approvals["by_backtest"] > 0 and approvals["actor"] == "backtest"


def test_a_fall_and_recovery_harvests_and_blocks_the_sold_asset():
    market, jump = fall_and_recover_market()
    job = BacktestJob(
        key="harvest",
        strategy=strategy_named("equal_weight", harvesting=True),
        start=date(2015, 1, 5),
        end=date(2015, 8, 31),
        account=AccountSetup(account_value=Decimal("100000")),
    )
    outcome = _ok(run_isolated([job], market, keep_records=True)["harvest"])
    record = outcome["record"]
    harvests = record["harvests"]
    assert len(harvests) == 1
    harvest = harvests[0]
    assert (harvest["sold"], harvest["bought"]) == ("AAA", "BBB")
    assert harvest["realised"] < -1000  # a real loss, realised

    sale = next(f for f in record["fills"] if f["purpose"] == "harvest_sell")
    sold_on = date.fromisoformat(sale["day"])
    assert sold_on > date.fromisoformat(harvest["day"])  # executed the session after the decision
    blocks = [b for b in record["blocks"] if b["symbol"] == "AAA"]
    assert blocks == [
        {
            "symbol": "AAA",
            "sold_on": sale["day"],
            "blocked_until": str(sold_on + timedelta(days=30)),
        }
    ]
    replacement = [f for f in record["fills"] if f["purpose"] == "harvest_replace"]
    assert [(f["symbol"], f["day"]) for f in replacement] == [("BBB", sale["day"])]

    blocked_days = (sold_on, sold_on + timedelta(days=30))
    in_block = [
        f
        for f in record["fills"]
        if f["side"] == "buy" and blocked_days[0] <= date.fromisoformat(f["day"]) <= blocked_days[1]
    ]
    # No purchase of AAA while it is blocked; the rebalance after CCC's jump buys the slot's
    # replacement instead.
    assert not [f for f in in_block if f["symbol"] == "AAA"]
    rebalance = [f for f in in_block if f["purpose"] == "rebalance"]
    assert rebalance and {f["symbol"] for f in rebalance} == {"BBB"}
    assert min(date.fromisoformat(f["day"]) for f in rebalance) > jump
    # BBB is not substantially identical to AAA: the loss is not washed.
    assert record["wash_sales"] == []
    assert outcome["summary"]["metrics"]["harvests"] == 1


@pytest.mark.django_db
def test_walk_forward_replays_training_then_the_chosen_test_window(tmp_path):
    from backtests.core.markets import business_days, random_walk
    from backtests.core.walkforward import WalkForwardSpec
    from backtests.market import MarketSource
    from backtests.models import ResultRole, ResultStatus, RunStatus
    from backtests.services import backtest_market_forget, backtest_run_create, backtest_run_local

    days = business_days(date(2014, 1, 1), date(2016, 12, 30))
    closes = random_walk(days, symbols=["AAA", "BBB"], seed=11)
    path = tmp_path / "walk.csv"
    closes.rename_axis("date").to_csv(path, date_format="%Y-%m-%d", float_format="%.4f")
    backtest_market_forget()
    run = backtest_run_create(
        name="Walk-forward",
        strategies=[
            strategy_named(
                "equal_weight",
                schedule=Schedule(refresh=Frequency.YEARLY, drift=Frequency.QUARTERLY),
            )
        ],
        source=MarketSource(kind="file", path=str(path)),
        start=date(2015, 1, 1),
        end=date(2016, 12, 30),
        walk_forward=WalkForwardSpec(
            train_years=1, test_years=1, grid={"drift_threshold": (0.02, 0.2)}
        ),
    )
    run = backtest_run_local(run_id=run.pk, workers=2)
    assert run.status == RunStatus.DONE, run.error
    train = run.results.filter(role=ResultRole.TRAIN)
    test = run.results.get(role=ResultRole.TEST)
    assert train.count() == 2 and all(r.status == ResultStatus.DONE for r in train)
    best = max(train, key=lambda r: r.metrics["after_tax_cagr"])
    assert test.label == best.label and test.strategy == best.strategy
    assert test.start == date(2016, 1, 1) or test.start == date(2016, 1, 4)
    oos = run.summary["out_of_sample"]
    assert oos["series"]["days"][0] == test.series["days"][0]
    assert oos["cagr"] == pytest.approx(test.metrics["cagr"], rel=1e-6)
    backtest_market_forget()
