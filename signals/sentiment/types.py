"""What every sentiment backend returns, and the one interface they all implement.

A :class:`SentimentScore` is a probability distribution over the three labels of financial news
sentiment (negative, neutral, positive) together with its most likely label and a signed score
``p_pos - p_neg`` in [-1, 1]. A :class:`SentimentScorer` turns a batch of texts into scores; the
registry in :mod:`signals.sentiment.registry` builds one by name.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from portfolios.core.errors import InvalidInput

Label = Literal["negative", "neutral", "positive"]

#: The labels in the order of :attr:`SentimentScore.probabilities`.
LABELS: tuple[Label, Label, Label] = ("negative", "neutral", "positive")

_PROBABILITY_TOLERANCE = 1e-6


@dataclass(frozen=True, slots=True)
class SentimentScore:
    """The sentiment of one text.

    Attributes
    ----------
    label
        The most likely of the three labels.
    score
        ``p_pos - p_neg``, in [-1, 1]: the signed strength of the sentiment.
    probabilities
        ``(p_neg, p_neu, p_pos)``, each in [0, 1], summing to 1.
    """

    label: Label
    score: float
    probabilities: tuple[float, float, float]

    def __post_init__(self) -> None:
        if self.label not in LABELS:
            raise InvalidInput(f"unknown sentiment label {self.label!r}; expected one of {LABELS}")
        if len(self.probabilities) != 3:
            raise InvalidInput(
                f"a sentiment score needs three probabilities (neg, neu, pos), "
                f"got {len(self.probabilities)}"
            )
        if not all(math.isfinite(p) and 0.0 <= p <= 1.0 for p in self.probabilities):
            raise InvalidInput(f"sentiment probabilities must lie in [0, 1]: {self.probabilities}")
        if abs(math.fsum(self.probabilities) - 1.0) > _PROBABILITY_TOLERANCE:
            raise InvalidInput(f"sentiment probabilities must sum to 1: {self.probabilities}")
        expected = self.probabilities[2] - self.probabilities[0]
        if not math.isfinite(self.score) or abs(self.score - expected) > _PROBABILITY_TOLERANCE:
            raise InvalidInput(
                f"sentiment score {self.score} is not p_pos - p_neg = {expected} "
                f"for probabilities {self.probabilities}"
            )

    @classmethod
    def from_probabilities(cls, probabilities: Sequence[float]) -> SentimentScore:
        """The score of a distribution ``(p_neg, p_neu, p_pos)``, renormalised to sum to 1.

        Ties between labels go to neutral, then to the first of negative and positive.
        """
        if len(probabilities) != 3:
            raise InvalidInput(
                f"a sentiment score needs three probabilities (neg, neu, pos), "
                f"got {len(probabilities)}"
            )
        values = [float(p) for p in probabilities]
        if not all(math.isfinite(p) and p >= 0.0 for p in values):
            raise InvalidInput(f"sentiment probabilities must be finite and >= 0: {values}")
        total = math.fsum(values)
        if total <= 0.0:
            raise InvalidInput(f"sentiment probabilities sum to zero: {values}")
        neg, neu, pos = (min(1.0, max(0.0, p / total)) for p in values)
        best = max(neg, neu, pos)
        label: Label = "neutral" if neu == best else ("negative" if neg == best else "positive")
        return cls(label=label, score=pos - neg, probabilities=(neg, neu, pos))

    def as_dict(self) -> dict[str, object]:
        """The score as plain JSON-ready values."""
        neg, neu, pos = self.probabilities
        return {
            "label": self.label,
            "score": self.score,
            "negative": neg,
            "neutral": neu,
            "positive": pos,
        }


@runtime_checkable
class SentimentScorer(Protocol):
    """A sentiment backend: scores batches of texts, loading any model it needs lazily."""

    @property
    def name(self) -> str:
        """The backend's registry name (``fingpt``, ``classifier``, ``embedded``, ``local``)."""
        ...

    def score_batch(self, texts: Sequence[str]) -> list[SentimentScore]:
        """One score per text, in the order given."""
        ...
