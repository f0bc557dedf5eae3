"""The ``embedded`` lexicon: each rule on hand-written sentences."""

from __future__ import annotations

import pytest

from signals.sentiment import get_scorer
from signals.sentiment.lexicon import LexiconScorer, lexicon_evidence, tokenize

scorer = LexiconScorer()


def label(text: str) -> str:
    return scorer.score_batch([text])[0].label


def score(text: str) -> float:
    return scorer.score_batch([text])[0].score


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Direction rules: the quantity's polarity times the direction of its change.
        ("Operating profit rose to EUR 13.1 mn from EUR 8.7 mn.", "positive"),
        ("Net sales increased by 8 %.", "positive"),
        ("The net loss widened in the third quarter.", "negative"),
        ("Production costs fell by a fifth.", "positive"),
        ("The group's debt increased to EUR 2 bn.", "negative"),
        ("Revenue declined 4 %.", "negative"),
        ("The loss per share narrowed to EUR 0.27 from EUR 0.86.", "positive"),
        ("The company cut its guidance for the year.", "negative"),
        ("The company raised its full-year guidance.", "positive"),
        ("The company cut costs across its plants.", "positive"),
        ("an increase in costs", "negative"),
        ("Rising debt worried investors.", "negative"),
        # Negation.
        ("The unit is not profitable.", "negative"),
        ("The company didn't miss its targets.", "positive"),
        # Polar words and expectations.
        ("Quarterly results beat expectations.", "positive"),
        ("Earnings per share missed estimates.", "negative"),
        ("Results came in above expectations.", "positive"),
        ("Sales were below the consensus forecast.", "negative"),
        ("Margins were worse than expected.", "negative"),
        ("The firm filed for bankruptcy.", "negative"),
        ("Analysts upgraded the stock.", "positive"),
        ("The company received an order worth EUR 12 mn.", "positive"),
        # Nothing to say.
        ("The company is headquartered in Helsinki.", "neutral"),
        ("The annual general meeting will be held on 25 March.", "neutral"),
        ("", "neutral"),
    ],
)
def test_rules(text: str, expected: str) -> None:
    assert label(text) == expected, lexicon_evidence(text).matches


def test_intensity_scales_the_evidence() -> None:
    assert score("Profit rose sharply.") > score("Profit rose.") > score("Profit rose slightly.")
    assert score("Profit rose slightly.") > 0
    assert score("Sales fell significantly.") < score("Sales fell.") < 0
    assert lexicon_evidence("Profit rose sharply.").positive == pytest.approx(1.5)
    assert lexicon_evidence("Profit slightly rose.").positive == pytest.approx(0.5)


def test_direction_needs_the_quantity_in_the_same_clause() -> None:
    evidence = lexicon_evidence("Costs were stable, but sales fell.")
    assert evidence.negative == pytest.approx(1.0)
    assert evidence.positive == 0.0
    assert evidence.matches == ("sales fell (-1.00)",)


def test_unpaired_change_word_is_weak() -> None:
    evidence = lexicon_evidence("Shares of the firm were down.")
    assert evidence.net < 0  # "shares ... down": paired
    assert lexicon_evidence("It went down.").net == pytest.approx(-0.5)


def test_mixed_news_nets_out() -> None:
    evidence = lexicon_evidence("Sales rose, but profit fell.")
    assert evidence.positive == pytest.approx(1.0)
    assert evidence.negative == pytest.approx(1.0)
    assert label("Sales rose, but profit fell.") == "neutral"


def test_negation_does_not_cross_a_clause() -> None:
    assert lexicon_evidence("No changes were made, and profit rose.").net > 0


def test_tokenize() -> None:
    assert tokenize("Didn't beat; profit ROSE 5.2%.") == [
        "did",
        "not",
        "beat",
        ";",
        "profit",
        "rose",
        "5.2%",
        ".",
    ]


def test_scores_are_proper_distributions_and_registry_builds_it() -> None:
    built = get_scorer("embedded")
    assert built.name == "embedded"
    for result in built.score_batch(["Profit rose.", "Loss widened.", "Neutral text."]):
        assert sum(result.probabilities) == pytest.approx(1.0)
        assert -1.0 <= result.score <= 1.0
    assert built.score_batch([]) == []
