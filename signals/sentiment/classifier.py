"""The ``classifier`` backend: any local sequence-classification model directory (FinBERT-style).

The directory is what ``save_pretrained`` writes for a model and its tokenizer. Its labels come
from the config's ``id2label``; names are matched to negative, neutral and positive ignoring case,
and a model whose labels cannot all be matched is refused with the names it has. The model loads
on the first batch, on the GPU in float16 when there is one, else on the CPU in float32; nothing
is ever downloaded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from portfolios.core.errors import InvalidInput
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


def label_columns(id2label: Mapping[Any, str]) -> tuple[int, int, int]:
    """The output columns of negative, neutral and positive in a model whose labels are ``id2label``.

    Raises
    ------
    InvalidInput
        The model does not have exactly three labels named negative, neutral and positive
        (in any case and order).
    """
    names = {int(index): str(name) for index, name in id2label.items()}
    found: dict[str, int] = {}
    for index, name in sorted(names.items()):
        cleaned = name.strip().lower()
        if cleaned in LABELS and cleaned not in found:
            found[cleaned] = index
    shown = ", ".join(f"{i}: {n!r}" for i, n in sorted(names.items()))
    if len(names) != 3 or len(found) != 3 or sorted(names) != [0, 1, 2]:
        raise InvalidInput(
            f"cannot map the model's labels {{{shown}}} to negative, neutral and positive: "
            "a sentiment classifier needs exactly these three labels in its config's id2label",
            field="model_dir",
        )
    return (found["negative"], found["neutral"], found["positive"])


class ClassifierScorer:
    """Scores texts with a local sequence-classification model (see the module docstring)."""

    name = "classifier"

    def __init__(
        self,
        model_dir: str | Path | None,
        *,
        batch_size: int = 32,
        max_length: int = 256,
        device: str | None = None,
    ) -> None:
        self.model_dir = model_directory(model_dir, backend=self.name)
        self.batch_size = check_batch_size(batch_size)
        self.max_length = max_length
        self._device_request = device
        self._loaded: tuple[Any, Any, tuple[int, int, int], str] | None = None

    def _load(self) -> tuple[Any, Any, tuple[int, int, int], str]:
        if self._loaded is not None:
            return self._loaded
        from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

        config_file = self.model_dir / "config.json"
        if not config_file.is_file():
            raise InvalidInput(
                f"not a sequence-classification model: {self.model_dir} has no config.json",
                field="model_dir",
            )
        config = quietly(AutoConfig.from_pretrained, self.model_dir, local_files_only=True)
        architectures = list(getattr(config, "architectures", None) or [])
        if not any(a.endswith("ForSequenceClassification") for a in architectures):
            raise InvalidInput(
                f"not a sequence-classification model: {self.model_dir} "
                f"(its config names the architectures {architectures or 'none'}; "
                "expected a ...ForSequenceClassification model)",
                field="model_dir",
            )
        columns = label_columns(config.id2label)
        device = select_device(self._device_request)
        tokenizer = quietly(AutoTokenizer.from_pretrained, self.model_dir, local_files_only=True)
        model = quietly(
            AutoModelForSequenceClassification.from_pretrained,
            self.model_dir,
            local_files_only=True,
            dtype=inference_dtype(device),
        )
        model.to(device)
        model.eval()
        self._loaded = (tokenizer, model, columns, device)
        return self._loaded

    def score_batch(self, texts: Sequence[str]) -> list[SentimentScore]:
        """One score per text, in the order given."""
        import torch

        items = require_texts(texts)
        if not items:
            return []
        tokenizer, model, columns, device = self._load()
        lengths = [len(t) for t in items]
        results: list[SentimentScore | None] = [None] * len(items)
        with torch.inference_mode():
            for batch in length_sorted_batches(lengths, self.batch_size):
                encoded = tokenizer(
                    [items[i] for i in batch],
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                ).to(device)
                logits = model(**encoded).logits.float()
                probabilities = torch.softmax(logits, dim=-1)[:, list(columns)].cpu().tolist()
                for position, row in zip(batch, probabilities, strict=True):
                    results[position] = SentimentScore.from_probabilities(row)
        return [r for r in results if r is not None]
