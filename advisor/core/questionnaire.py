"""The risk questionnaire: willingness and capacity scored apart, the more conservative wins.

Method
------
Risk *willingness* (how much risk a client wants) and risk *capacity* (how much loss they can
bear without harming their goals) are different things and are scored separately, as FINRA Rule
2111's suitability guidance and the CFA Institute's "risk profiling" practice recommend:

* willingness comes from five attitude questions (reaction to a 20% fall, goal, the range of
  one-year outcomes accepted, experience, general attitude to risk);
* capacity comes from the horizon and four circumstance questions (income stability, emergency
  fund, share of net worth invested, money needed within three years). A short horizon caps it:
  under 3 years at most 3, under 5 years at most 5, under 10 years at most 8.

Each side's points are scaled linearly onto 1-10. The final score is the *lower* of the two: a
client who wants risk but cannot afford losses, or who can afford them but does not want them,
gets the conservative answer. Contradictory answers (for example "aggressive growth" as the goal
but "sell everything" after a 20% fall) show that the stated appetite is not reliable: each
contradiction found lowers the final score by one, never below 1, and is reported to the advisor.

The final score maps to an equity / bond / cash split (:data:`ALLOCATION_BY_SCORE`), a glide from
10/60/30 at 1 to 98/0/2 at 10, and to a mean-variance risk aversion λ that falls geometrically from
10 at score 1 to 1.5 at score 10.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from portfolios.core.errors import InvalidInput


@dataclass(frozen=True)
class Choice:
    value: str
    label: str
    points: int


@dataclass(frozen=True)
class Question:
    key: str
    text: str
    side: str  # "willingness" or "capacity"
    choices: tuple[Choice, ...]

    def points_for(self, value: str) -> int:
        for choice in self.choices:
            if choice.value == value:
                return choice.points
        allowed = ", ".join(c.value for c in self.choices)
        raise InvalidInput(f"{self.key}: {value!r} is not one of {allowed}", field=self.key)

    @property
    def min_points(self) -> int:
        return min(c.points for c in self.choices)

    @property
    def max_points(self) -> int:
        return max(c.points for c in self.choices)


WILLINGNESS = "willingness"
CAPACITY = "capacity"

QUESTIONS: tuple[Question, ...] = (
    Question(
        "drawdown_reaction",
        "If your portfolio lost 20% of its value in one month, what would you do?",
        WILLINGNESS,
        (
            Choice("sell_all", "Sell everything to stop further losses", 1),
            Choice("sell_some", "Sell some to reduce risk", 2),
            Choice("hold", "Hold and wait for a recovery", 3),
            Choice("buy_more", "Buy more while prices are low", 4),
        ),
    ),
    Question(
        "goal",
        "What is the main goal of this money?",
        WILLINGNESS,
        (
            Choice("preserve", "Preserve what I have", 1),
            Choice("income", "Generate steady income", 2),
            Choice("balanced", "Balanced growth and income", 3),
            Choice("growth", "Long-term growth", 4),
            Choice("aggressive_growth", "Maximum growth, accepting large swings", 5),
        ),
    ),
    Question(
        "outcome_range",
        "Which range of one-year results on $100,000 would you accept?",
        WILLINGNESS,
        (
            Choice("narrow", "Between -$2,000 and +$4,000", 1),
            Choice("moderate", "Between -$8,000 and +$12,000", 2),
            Choice("wide", "Between -$15,000 and +$22,000", 3),
            Choice("widest", "Between -$25,000 and +$35,000", 4),
        ),
    ),
    Question(
        "experience",
        "How much investing experience do you have?",
        WILLINGNESS,
        (
            Choice("none", "None", 1),
            Choice("some", "Some: savings products and funds", 2),
            Choice("good", "Good: I have held stocks and funds through a downturn", 3),
            Choice("extensive", "Extensive: I manage a diversified portfolio myself", 4),
        ),
    ),
    Question(
        "risk_attitude",
        "Which statement describes you best?",
        WILLINGNESS,
        (
            Choice("avoid", "I avoid risk whenever I can", 1),
            Choice("cautious", "I accept a little risk for a little more return", 2),
            Choice("balanced", "I accept moderate risk for higher returns", 3),
            Choice("seek", "I seek high returns and accept high risk", 4),
        ),
    ),
    Question(
        "income_stability",
        "How stable is your income over the next five years?",
        CAPACITY,
        (
            Choice("unstable", "Unstable or uncertain", 1),
            Choice("somewhat", "Somewhat stable", 2),
            Choice("stable", "Stable", 3),
            Choice("very_stable", "Very stable (for example tenured, or pension income)", 4),
        ),
    ),
    Question(
        "emergency_fund",
        "How many months of expenses do you hold in cash outside this portfolio?",
        CAPACITY,
        (
            Choice("none", "None", 1),
            Choice("under_3", "Less than 3 months", 2),
            Choice("3_to_6", "3 to 6 months", 3),
            Choice("over_6", "More than 6 months", 4),
        ),
    ),
    Question(
        "net_worth_share",
        "What share of your net worth is this portfolio?",
        CAPACITY,
        (
            Choice("over_75", "More than 75%", 1),
            Choice("50_to_75", "50% to 75%", 2),
            Choice("25_to_50", "25% to 50%", 3),
            Choice("under_25", "Less than 25%", 4),
        ),
    ),
    Question(
        "near_term_withdrawals",
        "How much of this money might you need within three years?",
        CAPACITY,
        (
            Choice("most", "Most of it", 1),
            Choice("some", "Some of it", 2),
            Choice("little", "A little", 3),
            Choice("none", "None", 4),
        ),
    ),
)

QUESTIONS_BY_KEY: Mapping[str, Question] = MappingProxyType({q.key: q for q in QUESTIONS})

#: (equity, bond, cash) per final score.
ALLOCATION_BY_SCORE: Mapping[int, tuple[float, float, float]] = MappingProxyType(
    {
        1: (0.10, 0.60, 0.30),
        2: (0.20, 0.65, 0.15),
        3: (0.30, 0.60, 0.10),
        4: (0.40, 0.52, 0.08),
        5: (0.50, 0.45, 0.05),
        6: (0.60, 0.36, 0.04),
        7: (0.70, 0.27, 0.03),
        8: (0.80, 0.18, 0.02),
        9: (0.90, 0.08, 0.02),
        10: (0.98, 0.00, 0.02),
    }
)

SCORE_MEANING: Mapping[int, str] = MappingProxyType(
    {
        1: "Capital preservation: mostly bonds and cash, small swings.",
        2: "Very conservative: bonds first, a little equity for inflation.",
        3: "Conservative: steady income with modest growth.",
        4: "Moderately conservative: income first, some growth.",
        5: "Balanced: equal weight on growth and stability.",
        6: "Moderate growth: growth first, with a bond cushion.",
        7: "Growth: mostly equities; expect falls of 25% in bad years.",
        8: "Strong growth: equities dominate; falls of 30% are possible.",
        9: "Aggressive: nearly all equities; falls of 35% or more are possible.",
        10: "Maximum growth: all equities; deep falls must be ridden out.",
    }
)

#: Horizon bands: (at most this many years, capacity points 1-5, cap on the capacity score).
_HORIZON_BANDS: tuple[tuple[int, int, int], ...] = (
    (2, 1, 3),
    (4, 2, 5),
    (9, 3, 8),
    (19, 4, 10),
    (60, 5, 10),
)


@dataclass(frozen=True)
class RiskAssessment:
    willingness_score: int
    capacity_score: int
    score: int
    horizon_years: int
    equity_weight: float
    bond_weight: float
    cash_weight: float
    risk_aversion: float
    contradictions: tuple[str, ...]
    explanation: tuple[str, ...]

    @property
    def meaning(self) -> str:
        return SCORE_MEANING[self.score]


def _scale(points: int, low: int, high: int) -> int:
    """Map points in [low, high] linearly onto 1-10, rounding half up."""
    fraction = (points - low) / (high - low)
    return max(1, min(10, math.floor(1 + 9 * fraction + 0.5)))


def _horizon_band(years: int) -> tuple[int, int]:
    for upper, points, cap in _HORIZON_BANDS:
        if years <= upper:
            return points, cap
    raise InvalidInput(f"horizon_years must be at most 60, got {years}", field="horizon_years")


def risk_aversion_for_score(score: int) -> float:
    """λ for mean-variance: 10 at score 1 falling geometrically to 1.5 at score 10."""
    if not 1 <= score <= 10:
        raise InvalidInput(f"score must be 1-10, got {score}", field="score")
    return float(10.0 * (1.5 / 10.0) ** ((score - 1) / 9))


def _contradictions(answers: Mapping[str, str]) -> list[str]:
    found: list[str] = []
    if (
        answers["goal"] in {"growth", "aggressive_growth"}
        and answers["drawdown_reaction"] == "sell_all"
    ):
        found.append("wants growth but would sell everything after a 20% fall")
    if answers["outcome_range"] == "widest" and answers["risk_attitude"] in {"avoid", "cautious"}:
        found.append("accepts the widest range of outcomes but describes themselves as risk-averse")
    if answers["risk_attitude"] == "seek" and answers["drawdown_reaction"] in {
        "sell_all",
        "sell_some",
    }:
        found.append("says they seek risk but would sell after a 20% fall")
    if answers["goal"] == "preserve" and answers["outcome_range"] in {"wide", "widest"}:
        found.append("wants to preserve capital but accepts losses of 15% or more in a year")
    return found


def assess(answers: Mapping[str, str], *, horizon_years: int) -> RiskAssessment:
    """Score a completed questionnaire.

    Parameters
    ----------
    answers
        The chosen value for every question key in :data:`QUESTIONS`.
    horizon_years
        Years until the money is needed, 1 to 60.

    Raises
    ------
    InvalidInput
        A question is unanswered, an answer is not one of its choices, or the horizon is out of
        range; the error's ``field`` names the question.
    """
    if isinstance(horizon_years, bool) or not isinstance(horizon_years, int):
        raise InvalidInput("horizon_years must be a whole number of years", field="horizon_years")
    if not 1 <= horizon_years <= 60:
        raise InvalidInput(
            f"horizon_years must be between 1 and 60, got {horizon_years}", field="horizon_years"
        )
    missing = [q.key for q in QUESTIONS if q.key not in answers]
    if missing:
        raise InvalidInput(f"unanswered question(s): {', '.join(missing)}", field=missing[0])
    unknown = sorted(set(answers) - set(QUESTIONS_BY_KEY))
    if unknown:
        raise InvalidInput(f"unknown question(s): {', '.join(unknown)}", field=unknown[0])

    totals = {WILLINGNESS: 0, CAPACITY: 0}
    lows = {WILLINGNESS: 0, CAPACITY: 0}
    highs = {WILLINGNESS: 0, CAPACITY: 0}
    for question in QUESTIONS:
        totals[question.side] += question.points_for(answers[question.key])
        lows[question.side] += question.min_points
        highs[question.side] += question.max_points
    horizon_points, horizon_cap = _horizon_band(horizon_years)
    totals[CAPACITY] += horizon_points
    lows[CAPACITY] += 1
    highs[CAPACITY] += 5

    willingness = _scale(totals[WILLINGNESS], lows[WILLINGNESS], highs[WILLINGNESS])
    capacity_uncapped = _scale(totals[CAPACITY], lows[CAPACITY], highs[CAPACITY])
    capacity = min(capacity_uncapped, horizon_cap)
    contradictions = _contradictions(answers)
    base = min(willingness, capacity)
    score = max(1, base - len(contradictions))

    explanation = [
        f"Willingness to take risk scores {willingness}/10 from your answers on attitude and experience.",
        f"Capacity to bear losses scores {capacity}/10 from your horizon of {horizon_years} years "
        "and your financial circumstances.",
    ]
    if capacity < capacity_uncapped:
        explanation.append(f"A horizon of {horizon_years} years caps capacity at {horizon_cap}.")
    explanation.append(
        "The lower of the two sets the profile: "
        + (
            "capacity."
            if capacity < willingness
            else "willingness."
            if willingness < capacity
            else "both agree."
        )
    )
    if contradictions:
        explanation.append(
            f"{len(contradictions)} contradictory answer(s) lowered the score by {base - score}: "
            + "; ".join(contradictions)
            + "."
        )
    equity, bond, cash_ = ALLOCATION_BY_SCORE[score]
    explanation.append(
        f"Score {score}: {SCORE_MEANING[score]} Target split {equity:.0%} equity, "
        f"{bond:.0%} bonds, {cash_:.0%} cash."
    )
    return RiskAssessment(
        willingness_score=willingness,
        capacity_score=capacity,
        score=score,
        horizon_years=horizon_years,
        equity_weight=equity,
        bond_weight=bond,
        cash_weight=cash_,
        risk_aversion=risk_aversion_for_score(score),
        contradictions=tuple(contradictions),
        explanation=tuple(explanation),
    )
