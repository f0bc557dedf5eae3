"""No decision at day t sees data after t; the same seed gives the same result twice.

The probe: replay once on the real prices, once with every close after t scrambled (and with
them every signal computed from them). Every decision up to t (targets, proposals and their
trades, fills) and every daily value up to t must be identical; after t they must differ, or the
probe proved nothing.
"""

from datetime import date

import pytest

from backtests.core.config import BacktestJob, Frequency, Schedule, strategy_named
from backtests.isolation import run_isolated
from backtests.market import market_from_file
from tests.conftest import SHARED_DATA

pytestmark = pytest.mark.slow

SYMBOLS = ["JPM", "BAC", "AAPL", "AMD", "XOM", "RRC"]
CUT = date(2008, 5, 30)


@pytest.fixture(scope="module")
def stocks():
    full = market_from_file(SHARED_DATA / "prices" / "stock_prices.csv", today=date(2024, 1, 1))
    window = full.window(date(2002, 1, 1), date(2008, 10, 31))
    from dataclasses import replace

    return replace(
        window,
        closes=window.closes[SYMBOLS],
        assets={s: window.assets[s] for s in SYMBOLS},
    )


def _job(key: str, strategy, seed: int = 0) -> BacktestJob:
    return BacktestJob(
        key=key, strategy=strategy, start=date(2008, 1, 2), end=date(2008, 9, 30), seed=seed
    )


def _before(log, day):
    cut = day.isoformat()
    return {
        "targets": [t for t in log["targets"] if t["day"] <= cut],
        "proposals": [
            (p["day"], p["reason"], p["trades"]) for p in log["proposals"] if p["day"] <= cut
        ],
        "fills": [f for f in log["fills"] if f["day"] <= cut],
    }


def test_no_decision_sees_a_later_price_or_signal(stocks):
    strategy = strategy_named(
        "drift_harvest_views",
        max_asset_weight=0.5,  # three slots must hold 98% in equities
        schedule=Schedule(
            refresh=Frequency.MONTHLY, drift=Frequency.MONTHLY, harvest=Frequency.WEEKLY
        ),
    )
    real = run_isolated([_job("real", strategy)], stocks)["real"]
    probe = run_isolated([_job("probe", strategy)], stocks.perturbed_after(CUT, seed=7))["probe"]
    for outcome in (real, probe):
        assert "error" not in outcome, outcome.get("trace") or outcome["error"]
    a, b = _before(real["log"], CUT), _before(probe["log"], CUT)
    assert a["targets"] and a["proposals"] and a["fills"]
    assert a == b
    days = real["summary"]["series"]["days"]
    upto = sum(1 for d in days if d <= CUT.isoformat())
    assert real["summary"]["series"]["value"][:upto] == probe["summary"]["series"]["value"][:upto]
    # The views were in force: signal views tilted at least one target up to the cut.
    assert any(t["method"] == "mean_variance_bl" for t in a["targets"])
    # After the cut the scrambled market changes what happens.
    assert real["summary"]["series"]["value"][upto:] != probe["summary"]["series"]["value"][upto:]
    assert real["log"]["targets"] != probe["log"]["targets"]


def test_the_same_seed_gives_the_same_result_twice(stocks):
    strategy = strategy_named("drift_harvest", max_asset_weight=0.5)

    def job(key):
        return BacktestJob(
            key=key, strategy=strategy, start=date(2008, 1, 2), end=date(2008, 5, 30), seed=5
        )

    # Two replays one after the other in one process (each in a fresh database), and a third in
    # a process of its own.
    outcomes = run_isolated([job("one"), job("two")], stocks, workers=1)
    outcomes |= run_isolated([job("three")], stocks)
    for outcome in outcomes.values():
        assert "error" not in outcome, outcome.get("trace") or outcome["error"]
    one = outcomes["one"]
    assert one["log"]["proposals"] and one["log"]["fills"]
    for other in (outcomes["two"], outcomes["three"]):
        assert other["summary"]["metrics"] == one["summary"]["metrics"]
        assert other["summary"]["series"] == one["summary"]["series"]
        for part in ("targets", "proposals", "fills", "taxes"):
            assert other["log"][part] == one["log"][part]
