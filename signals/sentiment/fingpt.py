"""The ``fingpt`` backend: a causal language model, optionally with a LoRA adapter, read FinGPT's way.

Each text goes into FinGPT's sentiment prompt (:data:`FINGPT_PROMPT`). Rather than generating an
answer and parsing it, the scorer reads the model's next-token distribution at the answer position
and keeps the probabilities of the first token of each label word, renormalised over the three:
the result is a proper distribution over negative, neutral and positive for every text.

Tokenisers differ in where the space before the answer goes ("Answer: " may end in a space token,
or the space may be glued to the next word as ``▁positive`` / ``Ġpositive``). The answer position
is therefore found per text by tokenising the prompt with each label appended and taking the
longest prefix shared with the prompt alone: the last shared token is where the model predicts the
answer, and the next token of each labelled prompt is that label's first token. Batches are padded
on the left with explicit position ids, so that a padded batch gives what one text at a time gives.

``model_dir`` is either a base model directory, or a PEFT LoRA adapter directory (it has an
``adapter_config.json``), whose base is ``base_model_dir`` or else the adapter config's
``base_model_name_or_path`` when that is a local directory. Everything loads lazily on the first
batch, on the GPU in float16 when there is one; nothing is ever downloaded.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from portfolios.core.errors import InvalidInput, NotFound
from signals.sentiment.runtime import (
    check_batch_size,
    inference_dtype,
    length_sorted_batches,
    model_directory,
    quietly,
    require_texts,
    select_device,
)
from signals.sentiment.types import LABELS, SentimentScore

#: FinGPT's sentiment instruction; ``{text}`` is the news.
FINGPT_PROMPT = (
    "Instruction: What is the sentiment of this news? "
    "Please choose an answer from {{negative/neutral/positive}}.\n"
    "Input: {text}\n"
    "Answer: "
)


def fingpt_prompt(text: str) -> str:
    """FinGPT's sentiment prompt for ``text``."""
    return FINGPT_PROMPT.format(text=text)


@dataclass(frozen=True, slots=True)
class AnswerTokens:
    """The prompt's tokens up to the answer position and the first token of each label."""

    prompt_ids: tuple[int, ...]
    label_ids: tuple[int, int, int]


def answer_tokens(tokenizer: Any, text: str) -> AnswerTokens:
    """Where the answer to ``text``'s prompt starts, and which token begins each label.

    Raises
    ------
    InvalidInput
        The tokeniser gives no single answer position for the three labels, or two labels begin
        with the same token (their probabilities could not be told apart).
    """
    prompt = fingpt_prompt(text)
    prompt_ids = list(tokenizer(prompt)["input_ids"])
    shared: list[int] = []
    firsts: list[int] = []
    for label in LABELS:
        labelled = list(tokenizer(prompt + label)["input_ids"])
        common = 0
        while (
            common < min(len(prompt_ids), len(labelled)) and prompt_ids[common] == labelled[common]
        ):
            common += 1
        if common == 0 or common >= len(labelled):
            raise InvalidInput(
                f"the tokenizer gives no answer position for the label {label!r}",
                field="model_dir",
            )
        shared.append(common)
        firsts.append(labelled[common])
    if len(set(shared)) != 1:
        raise InvalidInput(
            "the tokenizer splits the prompt differently for the three labels, "
            "so there is no single answer position",
            field="model_dir",
        )
    if len(set(firsts)) != 3:
        raise InvalidInput(
            "two sentiment labels begin with the same token in this tokenizer: "
            f"{dict(zip(LABELS, firsts, strict=True))}",
            field="model_dir",
        )
    return AnswerTokens(
        prompt_ids=tuple(prompt_ids[: shared[0]]),
        label_ids=(firsts[0], firsts[1], firsts[2]),
    )


def _adapter_base(adapter_dir: Path, base_model_dir: str | Path | None) -> Path:
    if base_model_dir is not None:
        base = Path(base_model_dir).expanduser()
        if not base.is_dir():
            raise NotFound(f"no base model directory at {base} (backend 'fingpt')")
        return base
    config = json.loads((adapter_dir / "adapter_config.json").read_text(encoding="utf-8"))
    named = str(config.get("base_model_name_or_path") or "")
    if not named or not Path(named).expanduser().is_dir():
        raise InvalidInput(
            f"the LoRA adapter at {adapter_dir} names the base model {named!r}, which is not a "
            "local directory; pass the base model's directory (base_model_dir, --base-model DIR)",
            field="base_model_dir",
        )
    return Path(named).expanduser()


class FinGPTScorer:
    """Scores texts with a causal language model and FinGPT's prompt (see the module docstring)."""

    name = "fingpt"

    def __init__(
        self,
        model_dir: str | Path | None,
        *,
        adapter_dir: str | Path | None = None,
        base_model_dir: str | Path | None = None,
        batch_size: int = 8,
        device: str | None = None,
        merge_adapter: bool = True,
    ) -> None:
        directory = model_directory(model_dir, backend=self.name)
        self.base_dir: Path
        self.adapter_dir: Path | None
        if adapter_dir is not None:
            adapter = Path(adapter_dir).expanduser()
            if not (adapter / "adapter_config.json").is_file():
                raise NotFound(f"no LoRA adapter (adapter_config.json) at {adapter}")
            self.base_dir, self.adapter_dir = directory, adapter
        elif (directory / "adapter_config.json").is_file():
            self.base_dir, self.adapter_dir = _adapter_base(directory, base_model_dir), directory
        else:
            self.base_dir, self.adapter_dir = directory, None
        if not (self.base_dir / "config.json").is_file():
            raise InvalidInput(
                f"not a causal language model: {self.base_dir} has no config.json",
                field="model_dir",
            )
        self.batch_size = check_batch_size(batch_size)
        self.merge_adapter = merge_adapter
        self._device_request = device
        self._loaded: tuple[Any, Any, str] | None = None

    def _load(self) -> tuple[Any, Any, str]:
        if self._loaded is not None:
            return self._loaded
        from transformers import AutoModelForCausalLM, AutoTokenizer

        device = select_device(self._device_request)
        tokenizer = quietly(AutoTokenizer.from_pretrained, self.base_dir, local_files_only=True)
        try:
            model = quietly(
                AutoModelForCausalLM.from_pretrained,
                self.base_dir,
                local_files_only=True,
                dtype=inference_dtype(device),
            )
        except ValueError as error:
            raise InvalidInput(
                f"not a causal language model: {self.base_dir} ({error})", field="model_dir"
            ) from error
        if self.adapter_dir is not None:
            from peft import PeftModel

            model = quietly(PeftModel.from_pretrained, model, str(self.adapter_dir))
            if self.merge_adapter:
                model = model.merge_and_unload()
        model.to(device)
        model.eval()
        self._loaded = (tokenizer, model, device)
        return self._loaded

    def score_batch(self, texts: Sequence[str]) -> list[SentimentScore]:
        """One score per text, in the order given."""
        import torch

        items = require_texts(texts)
        if not items:
            return []
        tokenizer, model, device = self._load()
        answers = [answer_tokens(tokenizer, text) for text in items]
        label_ids = answers[0].label_ids
        if any(a.label_ids != label_ids for a in answers):
            raise InvalidInput("the labels' first tokens differ between texts in this tokenizer")
        pad_id = tokenizer.pad_token_id
        if pad_id is None:
            pad_id = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else 0
        results: list[SentimentScore | None] = [None] * len(items)
        lengths = [len(a.prompt_ids) for a in answers]
        with torch.inference_mode():
            for batch in length_sorted_batches(lengths, self.batch_size):
                width = max(lengths[i] for i in batch)
                input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
                attention = torch.zeros((len(batch), width), dtype=torch.long)
                for row, index in enumerate(batch):
                    ids = answers[index].prompt_ids
                    input_ids[row, width - len(ids) :] = torch.tensor(ids, dtype=torch.long)
                    attention[row, width - len(ids) :] = 1
                positions = (attention.cumsum(dim=-1) - 1).clamp(min=0)
                inputs = {
                    "input_ids": input_ids.to(device),
                    "attention_mask": attention.to(device),
                    "position_ids": positions.to(device),
                }
                try:
                    output = model(**inputs, logits_to_keep=1)
                except TypeError:  # a model class without logits_to_keep
                    output = model(**inputs)
                logits = output.logits[:, -1, :]
                chosen = logits[:, list(label_ids)].float()
                probabilities = torch.softmax(chosen, dim=-1).cpu().tolist()
                for position, row_probabilities in zip(batch, probabilities, strict=True):
                    results[position] = SentimentScore.from_probabilities(row_probabilities)
        return [r for r in results if r is not None]
