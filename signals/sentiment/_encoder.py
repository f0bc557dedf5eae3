"""The fine-tuned transformer part of the ``local`` model (imported lazily: it imports torch).

A pre-trained encoder (any ``AutoModel`` directory, e.g. a MiniLM sentence encoder) is mean-pooled
over its tokens and topped with a linear layer over the three labels. It is fine-tuned end to end
with AdamW, a linear warm-up and decay, and batches of similar length. Inference runs in float32,
or, on request, with its linear layers in int8 (dynamic quantisation), about twice as fast.
"""

from __future__ import annotations

import copy
import random
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from signals.sentiment.runtime import quietly

HEAD_FILE = "head.safetensors"
_BUCKET_BATCHES = 50


class MeanPooledClassifier(nn.Module):
    """An encoder, mean pooling over the attended tokens, dropout and a linear layer to 3 logits."""

    def __init__(self, encoder: nn.Module, hidden_size: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, 3)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
        return self.head(self.dropout(pooled))


def load_pretrained(directory: Path) -> tuple[MeanPooledClassifier, Any]:
    """A fresh classifier over the pre-trained encoder in ``directory``, and its tokenizer."""
    from transformers import AutoModel, AutoTokenizer

    tokenizer = quietly(AutoTokenizer.from_pretrained, directory, local_files_only=True)
    encoder = quietly(AutoModel.from_pretrained, directory, local_files_only=True)
    return MeanPooledClassifier(encoder, int(encoder.config.hidden_size)), tokenizer


def save(model: MeanPooledClassifier, tokenizer: Any, directory: Path) -> None:
    """Write the encoder and tokenizer (``save_pretrained``) and the head (safetensors)."""
    from safetensors.torch import save_file

    directory.mkdir(parents=True, exist_ok=True)
    quietly(model.encoder.save_pretrained, directory)
    quietly(tokenizer.save_pretrained, directory)
    head = {name: tensor.detach().contiguous() for name, tensor in model.head.state_dict().items()}
    save_file(head, str(directory / HEAD_FILE))


def load(directory: Path) -> tuple[MeanPooledClassifier, Any]:
    """The classifier and tokenizer that :func:`save` wrote to ``directory``."""
    from safetensors.torch import load_file

    model, tokenizer = load_pretrained(directory)
    model.head.load_state_dict(load_file(str(directory / HEAD_FILE)))
    model.eval()
    return model, tokenizer


def quantized(model: MeanPooledClassifier) -> nn.Module:
    """A copy of ``model`` whose linear layers compute in int8 (dynamic quantisation).

    Weights are quantised per output channel (one scale per tensor lost 0.7 accuracy points on
    the FPB validation part; per channel lost none). Activations are quantised with one scale per
    call, shared by the whole batch, so a text's probabilities depend somewhat on the other texts
    in its batch: see the ``local`` module's docstring for the measured size of the effect.
    """
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    inference = copy.deepcopy(model).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return quantize_dynamic(inference, {nn.Linear: per_channel_dynamic_qconfig})


def _length_buckets(lengths: Sequence[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    order = list(range(len(lengths)))
    rng.shuffle(order)
    batches: list[list[int]] = []
    chunk = batch_size * _BUCKET_BATCHES
    for start in range(0, len(order), chunk):
        part = sorted(order[start : start + chunk], key=lambda i: lengths[i])
        batches.extend(part[i : i + batch_size] for i in range(0, len(part), batch_size))
    rng.shuffle(batches)
    return batches


def fine_tune(
    model: MeanPooledClassifier,
    tokenizer: Any,
    texts: Sequence[str],
    labels: Sequence[int],
    *,
    epochs: int,
    learning_rate: float,
    batch_size: int,
    max_length: int,
    seed: int,
    progress: bool,
) -> list[float]:
    """Fine-tune ``model`` in place on ``texts`` with ``labels`` (0, 1, 2); the loss per epoch."""
    from tqdm.auto import tqdm

    torch.manual_seed(seed)
    rng = random.Random(seed)
    lengths = [len(t) for t in texts]
    steps_per_epoch = (len(texts) + batch_size - 1) // batch_size
    total = max(1, epochs * steps_per_epoch)
    warmup = max(1, total // 10)
    no_decay = ("bias", "LayerNorm.weight", "layer_norm.weight", "norm.weight")
    groups = [
        {
            "params": [p for n, p in model.named_parameters() if not n.endswith(no_decay)],
            "weight_decay": 0.01,
        },
        {
            "params": [p for n, p in model.named_parameters() if n.endswith(no_decay)],
            "weight_decay": 0.0,
        },
    ]
    optimizer = torch.optim.AdamW(groups, lr=learning_rate)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: min((step + 1) / warmup, max(0.0, (total - step) / max(1, total - warmup))),
    )
    loss_function = nn.CrossEntropyLoss()
    targets = torch.tensor(list(labels), dtype=torch.long)
    losses: list[float] = []
    model.train()
    with tqdm(total=total, desc="fine-tuning", unit="batch", disable=not progress) as bar:
        for epoch in range(epochs):
            epoch_loss = 0.0
            batches = _length_buckets(lengths, batch_size, rng)
            for batch in batches:
                encoded = tokenizer(
                    [texts[i] for i in batch],
                    padding=True,
                    truncation=True,
                    max_length=max_length,
                    return_tensors="pt",
                )
                logits = model(encoded["input_ids"], encoded["attention_mask"])
                loss = loss_function(logits, targets[batch])
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                schedule.step()
                optimizer.zero_grad()
                epoch_loss += float(loss.item())
                bar.update(1)
            losses.append(epoch_loss / max(1, len(batches)))
            bar.set_postfix(epoch=epoch + 1, loss=f"{losses[-1]:.3f}")
    model.eval()
    return losses


def predict_proba(
    model: nn.Module,
    tokenizer: Any,
    texts: Sequence[str],
    *,
    batch_size: int,
    max_length: int,
) -> np.ndarray:
    """Shape (n, 3): the label probabilities (neg, neu, pos) of each text."""
    result = np.zeros((len(texts), 3), dtype=np.float64)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            encoded = tokenizer(
                [texts[i] for i in batch],
                padding=True,
                truncation=True,
                max_length=max_length,
                return_tensors="pt",
            )
            logits = model(encoded["input_ids"], encoded["attention_mask"]).float()
            result[batch] = torch.softmax(logits, dim=-1).numpy()
    return result
