"""News sentiment behind one interface: :class:`SentimentScorer`, built by :func:`get_scorer`.

Backends (see :mod:`signals.sentiment.registry`): ``embedded`` (the default, a finance lexicon),
``local`` (the project's CPU model, trained on the user's data), ``classifier`` (a local
FinBERT-style model) and ``fingpt`` (a causal language model with FinGPT's prompt). Heavy
libraries load only when a model backend scores its first batch.
"""

from signals.sentiment.registry import BACKENDS, DEFAULT_BACKEND, get_scorer
from signals.sentiment.types import LABELS, Label, SentimentScore, SentimentScorer

__all__ = [
    "BACKENDS",
    "DEFAULT_BACKEND",
    "LABELS",
    "Label",
    "SentimentScore",
    "SentimentScorer",
    "get_scorer",
]
