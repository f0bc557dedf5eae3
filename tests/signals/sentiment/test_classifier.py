"""The ``classifier`` backend on tiny BERT classifiers built and saved here."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from portfolios.core.errors import InvalidInput, NotFound
from signals.sentiment import SentimentScorer, get_scorer
from signals.sentiment.classifier import ClassifierScorer, label_columns
from tests.signals.sentiment.tiny_models import (
    save_tiny_bert_classifier,
    save_tiny_bert_encoder,
    words_of,
)

TEXTS = [
    "Operating profit rose to EUR 13.1 mn from EUR 8.7 mn .",
    "The company said its net loss widened .",
    "Costs fell .",
    "Sales were flat in the period",
    "orders",
]


def in_memory_probabilities(model, tokenizer, texts: list[str]) -> torch.Tensor:
    with torch.no_grad():
        encoded = tokenizer(texts, padding=True, return_tensors="pt")
        return torch.softmax(model(**encoded).logits, dim=-1).double()


def scored(scorer: SentimentScorer, texts: list[str]) -> torch.Tensor:
    return torch.tensor([s.probabilities for s in scorer.score_batch(texts)], dtype=torch.float64)


def test_saved_and_reloaded_model_gives_identical_probabilities(tmp_path: Path) -> None:
    id2label = {0: "negative", 1: "neutral", 2: "positive"}
    model, tokenizer = save_tiny_bert_classifier(tmp_path, id2label, words=words_of(TEXTS))
    expected = in_memory_probabilities(model, tokenizer, TEXTS)
    scorer = get_scorer("classifier", model_dir=tmp_path, batch_size=2)
    assert torch.allclose(scored(scorer, TEXTS), expected, atol=1e-6)
    again = scored(ClassifierScorer(tmp_path, batch_size=5), TEXTS)
    assert torch.equal(again, scored(ClassifierScorer(tmp_path, batch_size=5), TEXTS))


def test_labels_are_read_from_the_config_in_any_case_and_order(tmp_path: Path) -> None:
    id2label = {0: "Positive", 1: "NEGATIVE", 2: "neutral"}
    model, tokenizer = save_tiny_bert_classifier(tmp_path, id2label, words=words_of(TEXTS))
    raw = in_memory_probabilities(model, tokenizer, TEXTS)
    scores = ClassifierScorer(tmp_path).score_batch(TEXTS)
    probabilities = torch.tensor([s.probabilities for s in scores], dtype=torch.float64)
    assert torch.allclose(probabilities, raw[:, [1, 2, 0]], atol=1e-6)
    for score, row in zip(scores, raw.tolist(), strict=True):
        best = max(range(3), key=lambda i: row[i])
        assert score.label == id2label[best].lower()
        assert score.score == pytest.approx(row[0] - row[1], abs=1e-6)


def test_label_columns() -> None:
    assert label_columns({0: "negative", 1: "neutral", 2: "positive"}) == (0, 1, 2)
    assert label_columns({"0": " Neutral ", "1": "POSITIVE", "2": "Negative"}) == (2, 0, 1)


@pytest.mark.parametrize(
    "id2label",
    [
        {0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"},
        {0: "negative", 1: "positive"},
        {0: "negative", 1: "negative", 2: "positive"},
        {0: "bearish", 1: "neutral", 2: "bullish", 3: "positive"},
    ],
)
def test_labels_that_cannot_be_mapped_are_refused(id2label: dict[int, str]) -> None:
    with pytest.raises(InvalidInput, match="cannot map the model's labels"):
        label_columns(id2label)


def test_unmappable_model_fails_on_load_with_its_labels(tmp_path: Path) -> None:
    save_tiny_bert_classifier(tmp_path, {0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"})
    scorer = ClassifierScorer(tmp_path)
    with pytest.raises(InvalidInput, match=r"'LABEL_0'.*negative, neutral and positive"):
        scorer.score_batch(["anything"])


def test_model_without_a_classification_head_is_refused(tmp_path: Path) -> None:
    save_tiny_bert_encoder(tmp_path)
    with pytest.raises(InvalidInput, match=r"not a sequence-classification model: .*BertModel"):
        ClassifierScorer(tmp_path).score_batch(["anything"])


def test_directory_without_config_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"not a sequence-classification model: .*config.json"):
        ClassifierScorer(tmp_path).score_batch(["anything"])


def test_missing_model_errors_name_the_backend(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"--model DIR is required for backend 'classifier'"):
        get_scorer("classifier")
    with pytest.raises(NotFound, match=r"no model directory at .*absent.*'classifier'"):
        get_scorer("classifier", model_dir=tmp_path / "absent")


def test_model_loads_lazily_and_empty_batches_cost_nothing(tmp_path: Path) -> None:
    save_tiny_bert_classifier(tmp_path, {0: "negative", 1: "neutral", 2: "positive"})
    scorer = ClassifierScorer(tmp_path)
    assert scorer._loaded is None
    assert scorer.score_batch([]) == []
    assert scorer._loaded is None
    assert len(scorer.score_batch(["one", "two"])) == 2
    assert scorer._loaded is not None
