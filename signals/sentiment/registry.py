"""The sentiment backends by name, and :func:`get_scorer`, the one way to build a scorer.

=============  ==========================================================  ==================
name           what                                                        needs
=============  ==========================================================  ==================
``embedded``   the project's finance lexicon and rules (the default)       nothing
``local``      the project's CPU model, trained by ``train_sentiment``     its directory
``classifier`` any local sequence-classification model (FinBERT-style)     its directory
``fingpt``     a causal language model (+ LoRA adapter), FinGPT's prompt   its directory
=============  ==========================================================  ==================

Settings choose the backend (``SENTIMENT_BACKEND``) and the model directory
(``SENTIMENT_MODEL_DIR``); the management commands take ``--backend`` and ``--model`` over them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from portfolios.core.errors import InvalidInput
from signals.sentiment.types import SentimentScorer

#: The backend used when none is chosen.
DEFAULT_BACKEND = "embedded"

#: Every backend name, in the order the help text lists them.
BACKENDS: tuple[str, ...] = ("embedded", "local", "classifier", "fingpt")

_OPTIONS: dict[str, frozenset[str]] = {
    "embedded": frozenset(),
    "local": frozenset({"batch_size", "threads", "precision"}),
    "classifier": frozenset({"batch_size", "max_length", "device"}),
    "fingpt": frozenset({"adapter_dir", "base_model_dir", "batch_size", "device", "merge_adapter"}),
}


def get_scorer(
    backend: str, *, model_dir: str | Path | None = None, **options: Any
) -> SentimentScorer:
    """The scorer of backend ``backend``; its model, if any, loads on the first batch.

    Parameters
    ----------
    backend
        One of :data:`BACKENDS`.
    model_dir
        The model directory; required by ``local``, ``classifier`` and ``fingpt``, refused by
        ``embedded``.
    options
        Backend options: ``batch_size`` for the model backends, ``device`` and (``classifier``)
        ``max_length``, (``fingpt``) ``adapter_dir``, ``base_model_dir`` and ``merge_adapter``,
        (``local``) ``threads`` and ``precision`` (the encoder's: ``float32``, ``bfloat16`` or
        ``int8``). Options that are None are ignored.

    Raises
    ------
    InvalidInput
        An unknown backend or option, or a missing model directory.
    NotFound
        The model directory does not exist.
    """
    name = (backend or "").strip().lower()
    if name not in _OPTIONS:
        raise InvalidInput(
            f"unknown sentiment backend {backend!r}; choose one of {', '.join(BACKENDS)}",
            field="backend",
        )
    given = {key: value for key, value in options.items() if value is not None}
    unknown = sorted(set(given) - _OPTIONS[name])
    if unknown:
        raise InvalidInput(
            f"backend {name!r} does not take the option{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(unknown)}",
            field="backend",
        )
    if name == "embedded":
        if model_dir is not None and str(model_dir).strip():
            raise InvalidInput(
                "backend 'embedded' needs no model directory; drop --model or choose the "
                "'local', 'classifier' or 'fingpt' backend",
                field="model_dir",
            )
        from signals.sentiment.lexicon import LexiconScorer

        return LexiconScorer()
    if name == "local":
        from signals.sentiment.local import LocalScorer

        return LocalScorer(model_dir, **given)
    if name == "classifier":
        from signals.sentiment.classifier import ClassifierScorer

        return ClassifierScorer(model_dir, **given)
    from signals.sentiment.fingpt import FinGPTScorer

    return FinGPTScorer(model_dir, **given)


def scorer_for(
    backend: str, *, model_dir: str | Path | None = None, **options: Any
) -> SentimentScorer:
    """:func:`get_scorer` with the settings' options where ``options`` give none: the ``local``
    backend's encoder precision (``SENTIMENT_PRECISION``)."""
    from django.conf import settings

    if (backend or "").strip().lower() == "local" and options.get("precision") is None:
        options["precision"] = getattr(settings, "SENTIMENT_PRECISION", None) or None
    return get_scorer(backend, model_dir=model_dir, **options)
