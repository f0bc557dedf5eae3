"""Accuracy, F1 averages and the confusion matrix, checked against scikit-learn."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

from portfolios.core.errors import InvalidInput
from signals.sentiment.metrics import classification_report
from signals.sentiment.types import LABELS, Label

TRUE: list[Label] = [
    "negative",
    "negative",
    "neutral",
    "neutral",
    "neutral",
    "positive",
    "positive",
    "neutral",
]
PRED: list[Label] = [
    "negative",
    "neutral",
    "neutral",
    "positive",
    "neutral",
    "positive",
    "negative",
    "neutral",
]


def test_hand_example() -> None:
    report = classification_report(TRUE, PRED)
    # By hand: 5 of 8 right; F1 negative 2*1/(2+2)=0.5, neutral 2*3/(4+4)=0.75,
    # positive 2*1/(2+2)=0.5.
    assert report.accuracy == pytest.approx(5 / 8)
    assert report.per_label_f1 == pytest.approx((0.5, 0.75, 0.5))
    assert report.macro_f1 == pytest.approx((0.5 + 0.75 + 0.5) / 3)
    assert report.weighted_f1 == pytest.approx((2 * 0.5 + 4 * 0.75 + 2 * 0.5) / 8)
    assert report.confusion == ((1, 1, 0), (0, 3, 1), (1, 0, 1))
    assert report.support == (2, 4, 2)
    assert report.accuracy == pytest.approx(accuracy_score(TRUE, PRED))
    assert report.macro_f1 == pytest.approx(f1_score(TRUE, PRED, average="macro"))
    assert report.weighted_f1 == pytest.approx(f1_score(TRUE, PRED, average="weighted"))
    assert [list(r) for r in report.confusion] == confusion_matrix(
        TRUE, PRED, labels=list(LABELS)
    ).tolist()


def test_format_shows_every_figure() -> None:
    text = classification_report(TRUE, PRED).format()
    assert "accuracy: 0.6250" in text
    assert "macro-F1: 0.5833" in text
    assert "weighted-F1: 0.6250" in text
    assert text.splitlines()[-3].split() == ["negative", "1", "1", "0"]


labels = st.sampled_from(LABELS)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(labels, labels), min_size=1, max_size=60))
def test_matches_scikit_learn(pairs: list[tuple[str, str]]) -> None:
    true = [t for t, _ in pairs]
    predicted = [p for _, p in pairs]
    report = classification_report(true, predicted)  # type: ignore[arg-type]
    assert report.accuracy == pytest.approx(accuracy_score(true, predicted))
    assert report.macro_f1 == pytest.approx(f1_score(true, predicted, average="macro"))
    assert report.weighted_f1 == pytest.approx(
        f1_score(true, predicted, average="weighted", zero_division=0)
    )
    assert [list(r) for r in report.confusion] == confusion_matrix(
        true, predicted, labels=list(LABELS)
    ).tolist()


def test_bad_inputs() -> None:
    with pytest.raises(InvalidInput, match="2 true labels but 1 predictions"):
        classification_report(["neutral", "neutral"], ["neutral"])
    with pytest.raises(InvalidInput, match="no labelled texts"):
        classification_report([], [])
    with pytest.raises(InvalidInput, match="unknown sentiment labels"):
        classification_report(["neutral"], ["bullish"])  # type: ignore[list-item]
