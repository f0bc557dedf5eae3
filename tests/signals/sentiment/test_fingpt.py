"""The ``fingpt`` backend on tiny Llama models built here, with and without a LoRA adapter."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from portfolios.core.errors import InvalidInput, NotFound
from signals.sentiment import get_scorer
from signals.sentiment.fingpt import FinGPTScorer, answer_tokens, fingpt_prompt
from tests.signals.sentiment.tiny_models import (
    save_lora_adapter,
    save_tiny_gpt2,
    save_tiny_llama,
    sentencepiece_like_tokenizer,
    whitespace_tokenizer,
)

TEXTS = [
    "profit rose",
    "the company said net sales fell sharply in the first quarter of the year",
    "loss widened",
    "orders",
    "costs fell and profit rose to a record",
]
WORDS = sorted({w for t in TEXTS for w in t.split()})


@pytest.fixture(scope="module")
def llama_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("llama")
    save_tiny_llama(directory, sentencepiece_like_tokenizer(WORDS))
    return directory


@pytest.fixture(scope="module")
def adapter_dir(llama_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("lora")
    save_lora_adapter(llama_dir, directory, nonzero=True)
    return directory


def probabilities(scorer: FinGPTScorer, texts: list[str]) -> torch.Tensor:
    return torch.tensor([s.probabilities for s in scorer.score_batch(texts)], dtype=torch.float64)


def test_prompt_is_fingpts_template() -> None:
    assert fingpt_prompt("Shares rose.") == (
        "Instruction: What is the sentiment of this news? Please choose an answer from "
        "{negative/neutral/positive}.\nInput: Shares rose.\nAnswer: "
    )


def test_answer_position_with_a_space_glued_to_the_label() -> None:
    tokenizer = sentencepiece_like_tokenizer(WORDS)
    answer = answer_tokens(tokenizer, "profit rose")
    assert list(answer.label_ids) == tokenizer.convert_tokens_to_ids(
        ["▁negative", "▁neutral", "▁positive"]
    )
    prompt_tokens = tokenizer.convert_ids_to_tokens(list(answer.prompt_ids))
    # The prompt stops right after "Answer:"; the lone "▁" of the trailing space is dropped.
    assert prompt_tokens[-2:] == ["▁Answer", ":"]
    assert tokenizer(fingpt_prompt("profit rose"))["input_ids"][-1] == (
        tokenizer.convert_tokens_to_ids("▁")
    )


def test_answer_position_with_a_tokenizer_that_drops_spaces() -> None:
    tokenizer = whitespace_tokenizer(WORDS)
    answer = answer_tokens(tokenizer, "profit rose")
    assert list(answer.label_ids) == tokenizer.convert_tokens_to_ids(
        ["negative", "neutral", "positive"]
    )
    assert list(answer.prompt_ids) == tokenizer(fingpt_prompt("profit rose"))["input_ids"]


def test_probabilities_are_the_label_tokens_next_token_distribution(llama_dir: Path) -> None:
    scorer = get_scorer("fingpt", model_dir=llama_dir, batch_size=1)
    assert isinstance(scorer, FinGPTScorer)
    scores = scorer.score_batch(TEXTS)
    tokenizer, model, _ = scorer._load()
    for text, score in zip(TEXTS, scores, strict=True):
        assert sum(score.probabilities) == pytest.approx(1.0, abs=1e-9)
        assert score.score == pytest.approx(score.probabilities[2] - score.probabilities[0])
        answer = answer_tokens(tokenizer, text)
        with torch.no_grad():
            logits = model(torch.tensor([list(answer.prompt_ids)])).logits[0, -1]
        expected = torch.softmax(logits[list(answer.label_ids)].double(), dim=-1)
        assert torch.allclose(
            torch.tensor(score.probabilities, dtype=torch.float64), expected, atol=1e-6
        )


def test_batches_with_left_padding_match_one_text_at_a_time(llama_dir: Path) -> None:
    one_by_one = probabilities(FinGPTScorer(llama_dir, batch_size=1), TEXTS)
    batched = probabilities(FinGPTScorer(llama_dir, batch_size=4), TEXTS)
    assert torch.allclose(batched, one_by_one, atol=1e-5)
    assert not torch.allclose(one_by_one[0], one_by_one[1], atol=1e-4)  # texts matter


def test_whitespace_tokenizer_model_scores_too(tmp_path: Path) -> None:
    save_tiny_llama(tmp_path, whitespace_tokenizer(WORDS))
    one_by_one = probabilities(FinGPTScorer(tmp_path, batch_size=1), TEXTS)
    batched = probabilities(FinGPTScorer(tmp_path, batch_size=8), TEXTS)
    assert torch.allclose(batched, one_by_one, atol=1e-5)
    assert torch.allclose(batched.sum(dim=1), torch.ones(len(TEXTS), dtype=torch.float64))


def test_left_padding_with_absolute_positions(tmp_path: Path) -> None:
    """GPT-2 adds absolute position embeddings: padded rows need their own position ids."""
    save_tiny_gpt2(tmp_path, whitespace_tokenizer(WORDS))
    one_by_one = probabilities(FinGPTScorer(tmp_path, batch_size=1), TEXTS)
    batched = probabilities(FinGPTScorer(tmp_path, batch_size=8), TEXTS)
    assert torch.allclose(batched, one_by_one, atol=1e-5)


def test_lora_adapter_is_applied(llama_dir: Path, adapter_dir: Path) -> None:
    base = probabilities(FinGPTScorer(llama_dir), TEXTS)
    merged = probabilities(FinGPTScorer(llama_dir, adapter_dir=adapter_dir), TEXTS)
    unmerged = probabilities(
        FinGPTScorer(llama_dir, adapter_dir=adapter_dir, merge_adapter=False), TEXTS
    )
    assert (merged - base).abs().max() > 1e-3
    assert torch.allclose(merged, unmerged, atol=1e-5)


def test_zero_lora_adapter_changes_nothing(llama_dir: Path, tmp_path: Path) -> None:
    save_lora_adapter(llama_dir, tmp_path, nonzero=False)
    base = probabilities(FinGPTScorer(llama_dir), TEXTS)
    adapted = probabilities(FinGPTScorer(llama_dir, adapter_dir=tmp_path), TEXTS)
    assert torch.allclose(adapted, base, atol=1e-6)


def test_adapter_directory_as_model_finds_its_local_base(
    llama_dir: Path, adapter_dir: Path
) -> None:
    via_adapter = FinGPTScorer(adapter_dir)
    assert via_adapter.base_dir == llama_dir
    assert torch.allclose(
        probabilities(via_adapter, TEXTS),
        probabilities(FinGPTScorer(llama_dir, adapter_dir=adapter_dir), TEXTS),
        atol=1e-6,
    )


def test_adapter_whose_base_is_not_local_asks_for_it(adapter_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "adapter"
    copy.mkdir()
    for file in adapter_dir.iterdir():
        (copy / file.name).write_bytes(file.read_bytes())
    config = json.loads((copy / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = "meta-llama/Llama-2-13b-hf"
    (copy / "adapter_config.json").write_text(json.dumps(config))
    with pytest.raises(InvalidInput, match=r"meta-llama/Llama-2-13b-hf.*--base-model DIR"):
        FinGPTScorer(copy)


def test_missing_model_errors_name_the_backend(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"--model DIR is required for backend 'fingpt'"):
        get_scorer("fingpt")
    with pytest.raises(NotFound, match=r"no model directory at .*nowhere"):
        get_scorer("fingpt", model_dir=tmp_path / "nowhere")
    with pytest.raises(InvalidInput, match="not a causal language model"):
        get_scorer("fingpt", model_dir=tmp_path)


def test_model_loads_lazily(llama_dir: Path) -> None:
    scorer = FinGPTScorer(llama_dir)
    assert scorer._loaded is None
    assert scorer.score_batch([]) == []
    assert scorer._loaded is None
