"""Strategies are configurations: validated, serialisable, and the presets differ only in fields."""

from datetime import date
from decimal import Decimal

import pytest

from backtests.core.config import (
    STRATEGIES,
    AccountSetup,
    BacktestJob,
    Rebalancing,
    StrategyConfig,
    TargetKind,
    strategy_named,
)
from portfolios.core.errors import InvalidInput


def test_presets_cover_the_strategies():
    assert set(STRATEGIES) == {
        "buy_and_hold",
        "drift",
        "drift_harvest",
        "drift_harvest_views",
        "equal_weight",
        "sixty_forty",
        "inverse_volatility",
    }
    assert STRATEGIES["buy_and_hold"].rebalancing is Rebalancing.NONE
    assert STRATEGIES["drift_harvest_views"].views and STRATEGIES["drift_harvest_views"].harvesting
    assert STRATEGIES["sixty_forty"].target is TargetKind.FIXED_SLEEVES


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_round_trip(name):
    strategy = STRATEGIES[name]
    assert StrategyConfig.from_dict(strategy.as_dict()) == strategy
    job = BacktestJob(key="k", strategy=strategy, start=date(2020, 1, 1), end=date(2021, 1, 1))
    assert BacktestJob.from_dict(job.as_dict()) == job


@pytest.mark.parametrize(
    "changes",
    [
        {"drift_threshold": 1.5},
        {"risk_score": 0},
        {"name": "bad name!"},
        {"views": True, "target": "equal_weight"},
        {"target": "fixed_sleeves", "sleeve_weights": {"equity": 0.5}},
        {"target": "fixed_sleeves", "sleeve_weights": {"gold": 1.0}},
        {"harvesting": True, "rebalancing": "none"},
    ],
)
def test_invalid_strategies_are_refused(changes):
    with pytest.raises(InvalidInput):
        StrategyConfig(**{"name": "x", **changes})


def test_account_and_job_validation():
    account = AccountSetup(account_value="250000", tax_rates=("0.37", "0.2"))
    assert account.account_value == Decimal("250000")
    assert AccountSetup.from_dict(account.as_dict()) == account
    with pytest.raises(InvalidInput):
        AccountSetup(account_value=10)
    with pytest.raises(InvalidInput):
        AccountSetup(tax_rates=(Decimal("1.2"), Decimal("0.1")))
    with pytest.raises(InvalidInput):
        BacktestJob(
            key="k", strategy=STRATEGIES["drift"], start=date(2021, 1, 1), end=date(2020, 1, 1)
        )
    with pytest.raises(InvalidInput):
        strategy_named("moonshot")
