"""The replay writes a whole world, so it refuses a database that already holds one."""

from datetime import date

import pytest

from advisor.core.questionnaire import assess
from backtests.core.config import BacktestJob, strategy_named
from backtests.replay import Replay, answers_for_score
from portfolios.core.errors import Conflict
from tests.backtests.scenarios import constant_growth_market
from tests.factories import HouseholdFactory


@pytest.mark.django_db
def test_a_database_with_households_is_refused():
    HouseholdFactory()
    job = BacktestJob(
        key="x",
        strategy=strategy_named("equal_weight"),
        start=date(2015, 1, 5),
        end=date(2015, 3, 31),
    )
    with pytest.raises(Conflict, match="database of its own"):
        Replay(market=constant_growth_market(0.05), job=job).run()


@pytest.mark.parametrize("score", range(1, 11))
def test_every_risk_score_has_answers(score):
    answers = answers_for_score(score)
    result = assess(answers, horizon_years=30)
    assert result.score == score and not result.contradictions
