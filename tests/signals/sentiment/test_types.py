"""SentimentScore's invariants and the registry's errors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portfolios.core.errors import InvalidInput
from signals.sentiment import BACKENDS, SentimentScore, SentimentScorer, get_scorer
from signals.sentiment.lexicon import LexiconScorer


def test_from_probabilities_normalises_and_labels() -> None:
    score = SentimentScore.from_probabilities([1.0, 1.0, 2.0])
    assert score.probabilities == (0.25, 0.25, 0.5)
    assert score.label == "positive"
    assert score.score == 0.25
    assert SentimentScore.from_probabilities([0.4, 0.4, 0.2]).label == "neutral"
    assert SentimentScore.from_probabilities([0.4, 0.2, 0.4]).label == "negative"


@given(st.tuples(*[st.floats(min_value=0.0, max_value=1e6)] * 3).filter(lambda t: sum(t) > 1e-9))
def test_any_nonnegative_triple_makes_a_valid_score(weights: tuple[float, float, float]) -> None:
    score = SentimentScore.from_probabilities(weights)
    assert sum(score.probabilities) == pytest.approx(1.0)
    assert -1.0 <= score.score <= 1.0
    assert score.probabilities[("negative", "neutral", "positive").index(score.label)] == max(
        score.probabilities
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"label": "bullish", "score": 0.0, "probabilities": (0.0, 1.0, 0.0)}, "unknown"),
        ({"label": "neutral", "score": 0.0, "probabilities": (0.5, 0.6, 0.0)}, "sum to 1"),
        ({"label": "neutral", "score": 0.5, "probabilities": (0.0, 1.0, 0.0)}, "p_pos - p_neg"),
        ({"label": "neutral", "score": 0.0, "probabilities": (-0.1, 1.1, 0.0)}, r"\[0, 1\]"),
        ({"label": "neutral", "score": 0.0, "probabilities": (0.5, 0.5)}, "three"),
    ],
)
def test_invalid_scores_are_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        SentimentScore(**kwargs)


def test_from_probabilities_refuses_bad_input() -> None:
    with pytest.raises(InvalidInput, match="sum to zero"):
        SentimentScore.from_probabilities([0.0, 0.0, 0.0])
    with pytest.raises(InvalidInput, match="finite"):
        SentimentScore.from_probabilities([float("nan"), 0.5, 0.5])


def test_as_dict() -> None:
    score = SentimentScore.from_probabilities([0.1, 0.2, 0.7])
    assert score.as_dict() == {
        "label": "positive",
        "score": pytest.approx(0.6),
        "negative": pytest.approx(0.1),
        "neutral": pytest.approx(0.2),
        "positive": pytest.approx(0.7),
    }


def test_backends_satisfy_the_protocol() -> None:
    assert isinstance(LexiconScorer(), SentimentScorer)
    assert BACKENDS == ("embedded", "local", "classifier", "fingpt")


def test_registry_errors() -> None:
    with pytest.raises(InvalidInput, match=r"unknown sentiment backend 'vader'; choose one of"):
        get_scorer("vader")
    with pytest.raises(InvalidInput, match=r"backend 'embedded' does not take the option device"):
        get_scorer("embedded", device="cpu")
    with pytest.raises(InvalidInput, match=r"backend 'embedded' needs no model directory"):
        get_scorer("embedded", model_dir="/somewhere")
    with pytest.raises(InvalidInput, match=r"backend 'classifier' does not take the option"):
        get_scorer("classifier", model_dir="/somewhere", adapter_dir="/x")
    assert get_scorer(" Embedded ", batch_size=None).name == "embedded"
