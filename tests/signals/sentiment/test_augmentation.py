"""Rule-made training sentences: seeded, balanced, and labelled as the lexicon reads them."""

from __future__ import annotations

from signals.sentiment.augmentation import direction_sentences
from signals.sentiment.lexicon import LexiconScorer


def test_sentences_are_seeded_and_counted() -> None:
    first = direction_sentences(200, seed=3)
    assert len(first) == 200
    assert first == direction_sentences(200, seed=3)
    assert first != direction_sentences(200, seed=4)
    counts = first.counts()
    assert counts["neutral"] == 0
    assert 70 <= counts["positive"] <= 130


def test_labels_agree_with_the_lexicon_rules() -> None:
    data = direction_sentences(400, seed=0)
    predicted = [s.label for s in LexiconScorer().score_batch(data.texts)]
    disagreements = [
        (text, label, guess)
        for text, label, guess in zip(data.texts, data.labels, predicted, strict=True)
        if label != guess
    ]
    assert disagreements == []


def test_both_kinds_of_quantity_move_both_ways() -> None:
    data = direction_sentences(400, seed=0)
    pairs = dict(zip(data.texts, data.labels, strict=True))
    assert any("cost" in t.lower() and ("fell" in t or "declined" in t) for t in pairs)
    assert all(
        label == "negative"
        for text, label in pairs.items()
        if "net loss widened" in text or "net debt increased" in text
    )
