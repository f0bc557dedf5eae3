"""Hand-checked questionnaire cases. Willingness points run 5-21, capacity points 5-21 (four
questions plus 1-5 for the horizon); each side maps linearly onto 1-10, rounding half up."""

import pytest

from advisor.core.questionnaire import (
    ALLOCATION_BY_SCORE,
    QUESTIONS,
    assess,
    risk_aversion_for_score,
)
from portfolios.core.errors import InvalidInput

AGGRESSIVE = {
    "drawdown_reaction": "buy_more",
    "goal": "aggressive_growth",
    "outcome_range": "widest",
    "experience": "extensive",
    "risk_attitude": "seek",
    "income_stability": "very_stable",
    "emergency_fund": "over_6",
    "net_worth_share": "under_25",
    "near_term_withdrawals": "none",
}
CONSERVATIVE = {
    "drawdown_reaction": "sell_all",
    "goal": "preserve",
    "outcome_range": "narrow",
    "experience": "none",
    "risk_attitude": "avoid",
    "income_stability": "unstable",
    "emergency_fund": "none",
    "net_worth_share": "over_75",
    "near_term_withdrawals": "most",
}


def test_most_aggressive_answers_give_ten():
    result = assess(AGGRESSIVE, horizon_years=30)
    assert (result.willingness_score, result.capacity_score, result.score) == (10, 10, 10)
    assert (result.equity_weight, result.bond_weight, result.cash_weight) == (0.98, 0.0, 0.02)
    assert result.contradictions == ()


def test_most_conservative_answers_give_one():
    result = assess(CONSERVATIVE, horizon_years=1)
    assert (result.willingness_score, result.capacity_score, result.score) == (1, 1, 1)
    assert result.risk_aversion == pytest.approx(10.0)


def test_capacity_wins_when_lower():
    answers = {
        **AGGRESSIVE,
        "income_stability": "unstable",
        "emergency_fund": "none",
        "net_worth_share": "over_75",
        "near_term_withdrawals": "most",
    }
    result = assess(answers, horizon_years=2)
    # willingness 21 points -> 10; capacity 4 + 1 (horizon <= 2) = 5 points -> 1
    assert (result.willingness_score, result.capacity_score, result.score) == (10, 1, 1)
    assert any("capacity." in line for line in result.explanation)


def test_balanced_client():
    answers = {
        "drawdown_reaction": "hold",
        "goal": "balanced",
        "outcome_range": "moderate",
        "experience": "some",
        "risk_attitude": "balanced",
        "income_stability": "stable",
        "emergency_fund": "3_to_6",
        "net_worth_share": "25_to_50",
        "near_term_withdrawals": "little",
    }
    result = assess(answers, horizon_years=15)
    # willingness 13 points: 1 + 9 * 8/16 = 5.5 -> 6; capacity 12 + 4 = 16: 1 + 9 * 11/16 = 7.19 -> 7
    assert (result.willingness_score, result.capacity_score, result.score) == (6, 7, 6)
    assert ALLOCATION_BY_SCORE[6] == (0.60, 0.36, 0.04)


def test_contradictions_lower_the_score():
    answers = {
        **AGGRESSIVE,
        "drawdown_reaction": "sell_all",
        "experience": "good",
        "risk_attitude": "avoid",
    }
    result = assess(answers, horizon_years=25)
    # willingness 1+5+4+3+1 = 14 -> 6.06 -> 6; capacity 10; two contradictions -> 4
    assert result.willingness_score == 6 and result.capacity_score == 10
    assert len(result.contradictions) == 2
    assert result.score == 4


def test_short_horizon_caps_capacity():
    result = assess(AGGRESSIVE, horizon_years=4)
    # capacity points 16 + 2 = 18 -> 8.3 -> 8, capped at 5 for a horizon under 5 years
    assert result.capacity_score == 5 and result.score == 5
    assert any("caps capacity at 5" in line for line in result.explanation)


def test_the_split_always_sums_to_one_and_risk_aversion_falls():
    for score, split in ALLOCATION_BY_SCORE.items():
        assert sum(split) == pytest.approx(1.0), score
    aversions = [risk_aversion_for_score(s) for s in range(1, 11)]
    assert aversions == sorted(aversions, reverse=True)
    assert aversions[-1] == pytest.approx(1.5)


@pytest.mark.parametrize(
    ("answers", "horizon", "field"),
    [
        ({k: v for k, v in AGGRESSIVE.items() if k != "goal"}, 10, "goal"),
        ({**AGGRESSIVE, "goal": "lottery"}, 10, "goal"),
        (AGGRESSIVE, 0, "horizon_years"),
        (AGGRESSIVE, 61, "horizon_years"),
        ({**AGGRESSIVE, "favourite_colour": "blue"}, 10, "favourite_colour"),
    ],
)
def test_bad_answers_name_the_question(answers, horizon, field):
    with pytest.raises(InvalidInput) as info:
        assess(answers, horizon_years=horizon)
    assert info.value.field == field


def test_every_question_has_distinct_choice_values():
    for question in QUESTIONS:
        values = [c.value for c in question.choices]
        assert len(values) == len(set(values)), question.key
