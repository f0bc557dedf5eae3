"""The fine-tuned transformer part of the ``local`` model (imported lazily: it imports torch).

A pre-trained encoder (any ``AutoModel`` directory, e.g. a MiniLM sentence encoder) is mean-pooled
over its tokens and topped with a linear layer over the three labels. It is fine-tuned end to end
with AdamW, a linear warm-up and decay, and batches of similar length. Inference runs in float32,
or, on request (:func:`for_inference`), in bfloat16 on a CPU with bfloat16 arithmetic, or with its
linear layers in int8 (dynamic quantisation).
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

from portfolios.core.errors import InvalidInput
from signals.sentiment.runtime import check_precision, quietly

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


def bfloat16_supported() -> bool:
    """Whether this CPU does bfloat16 arithmetic in hardware (AVX512-BF16 or AMX), through oneDNN.

    Without it torch still computes in bfloat16, by conversion, without the speed-up.
    """
    try:
        return bool(
            torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
        )
    except (AttributeError, RuntimeError):  # a torch build without oneDNN
        return False


def for_inference(model: MeanPooledClassifier, precision: str) -> nn.Module:
    """``model`` itself in ``float32``; a copy in ``bfloat16`` (every weight and activation) or
    with int8 linear layers (:func:`quantized`).

    ``bfloat16`` keeps float32's range with 8 bits of mantissa; matrix products accumulate in
    float32. It is refused on a CPU without bfloat16 arithmetic, where torch would emulate it.
    """
    if check_precision(precision) == "float32":
        return model
    if precision == "int8":
        return quantized(model)
    require_bfloat16()
    return copy.deepcopy(model).eval().to(torch.bfloat16)


def require_bfloat16() -> None:
    """Refuse bfloat16 on a CPU without bfloat16 arithmetic (:func:`bfloat16_supported`)."""
    if not bfloat16_supported():
        raise InvalidInput(
            "this CPU has no bfloat16 arithmetic (AVX512-BF16 or AMX): torch would emulate it, "
            "which is no faster than float32; use precision float32 or int8",
            field="precision",
        )


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
    bfloat16: bool = False,
) -> list[float]:
    """Fine-tune ``model`` in place on ``texts`` with ``labels`` (0, 1, 2); the loss per epoch.

    With ``bfloat16`` the forward passes run under bfloat16 autocast (matrix products in
    bfloat16); the weights, gradients and optimiser state stay float32.
    """
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
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bfloat16):
                    logits = model(encoded["input_ids"], encoded["attention_mask"])
                loss = loss_function(logits.float(), targets[batch])
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
