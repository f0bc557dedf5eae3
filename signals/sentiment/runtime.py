"""What the model backends share: finding model directories, choosing the device, batching.

torch and transformers are imported inside the functions that need them: each costs seconds at
import, and most processes never load a model.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from portfolios.core.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    import torch


def model_directory(model_dir: str | Path | None, *, backend: str) -> Path:
    """``model_dir`` as an existing directory, or a clear error naming the backend."""
    if model_dir is None or not str(model_dir).strip():
        raise InvalidInput(
            f"--model DIR is required for backend {backend!r} (or set SENTIMENT_MODEL_DIR)",
            field="model_dir",
        )
    path = Path(model_dir).expanduser()
    if not path.is_dir():
        raise NotFound(
            f"no model directory at {path} (backend {backend!r})",
            field="model_dir",
        )
    return path


def select_device(device: str | None = None) -> str:
    """``device`` if given, else ``cuda`` when a GPU is available, else ``cpu``."""
    import torch

    if device:
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise InvalidInput(f"device {device!r} was asked for but no CUDA GPU is available")
        return device
    return "cuda" if torch.cuda.is_available() else "cpu"


def inference_dtype(device: str) -> torch.dtype:
    """float16 on a GPU, float32 on the CPU."""
    import torch

    return torch.float16 if device.startswith("cuda") else torch.float32


#: The number formats the ``local`` model's encoder can run in, the default first.
PRECISIONS: tuple[str, ...] = ("float32", "bfloat16", "int8")


def check_precision(precision: str) -> str:
    """``precision`` if it is one of :data:`PRECISIONS`."""
    if precision not in PRECISIONS:
        raise InvalidInput(
            f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}",
            field="precision",
        )
    return precision


def check_batch_size(batch_size: int) -> int:
    """``batch_size`` if it is a positive integer."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidInput(f"batch size must be a positive integer, got {batch_size!r}")
    return batch_size


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> Iterator[list[int]]:
    """Indices in batches of similar length (longest first), so that padding stays small."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    for start in range(0, len(order), batch_size):
        yield order[start : start + batch_size]


def require_texts(texts: Sequence[str]) -> list[str]:
    """``texts`` as a list of strings, refusing anything that is not a string."""
    result = list(texts)
    for position, text in enumerate(result):
        if not isinstance(text, str):
            raise InvalidInput(f"text {position} is a {type(text).__name__}, not a string")
    return result


def quietly(action: Any, *args: Any, **kwargs: Any) -> Any:
    """``action(*args, **kwargs)`` with transformers' progress bars and advice silenced."""
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    progress = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        return action(*args, **kwargs)
    finally:
        hf_logging.set_verbosity(verbosity)
        if progress:
            hf_logging.enable_progress_bar()
