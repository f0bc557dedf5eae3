"""Classification metrics for the three sentiment labels: accuracy, F1 averages, confusion matrix.

Plain numpy, so that evaluating a backend needs nothing more; the tests check every figure against
scikit-learn's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from portfolios.core.errors import InvalidInput
from signals.sentiment.types import LABELS, Label


@dataclass(frozen=True, slots=True)
class ClassificationReport:
    """How well predicted labels match true ones.

    Attributes
    ----------
    accuracy
        Share of texts whose predicted label is the true one.
    macro_f1
        Unweighted mean of the F1 scores of the labels that occur (as true or predicted label),
        as scikit-learn computes it.
    weighted_f1
        Mean of the labels' F1 scores weighted by how many true texts each label has.
    per_label_f1
        F1 of each label, in the order of :data:`LABELS`; 0 for a label that is neither true nor
        predicted anywhere (scikit-learn's ``zero_division=0``).
    confusion
        Shape (3, 3): ``confusion[i][j]`` counts texts whose true label is ``LABELS[i]`` and whose
        predicted label is ``LABELS[j]``.
    support
        How many true texts each label has.
    """

    accuracy: float
    macro_f1: float
    weighted_f1: float
    per_label_f1: tuple[float, float, float]
    confusion: tuple[tuple[int, int, int], ...]
    support: tuple[int, int, int]

    def format(self) -> str:
        """The report as text: the figures, per-label F1 and the confusion matrix."""
        width = max(len(label) for label in LABELS)
        lines = [
            f"texts: {sum(self.support)}",
            f"accuracy: {self.accuracy:.4f}",
            f"macro-F1: {self.macro_f1:.4f}",
            f"weighted-F1: {self.weighted_f1:.4f}",
            "per-label F1: "
            + ", ".join(
                f"{label} {f1:.4f}" for label, f1 in zip(LABELS, self.per_label_f1, strict=True)
            ),
            "confusion matrix (rows: true label, columns: predicted label):",
            " " * (width + 2) + "".join(f"{label:>10}" for label in LABELS),
        ]
        for label, row in zip(LABELS, self.confusion, strict=True):
            lines.append(f"  {label:<{width}}" + "".join(f"{count:>10d}" for count in row))
        return "\n".join(lines)


def classification_report(
    true_labels: Sequence[Label], predicted_labels: Sequence[Label]
) -> ClassificationReport:
    """Accuracy, macro- and weighted-F1 and the confusion matrix of ``predicted_labels``.

    Parameters
    ----------
    true_labels, predicted_labels
        Shape (n,) each, n >= 1: labels from :data:`LABELS`.
    """
    if len(true_labels) != len(predicted_labels):
        raise InvalidInput(
            f"{len(true_labels)} true labels but {len(predicted_labels)} predictions"
        )
    if not true_labels:
        raise InvalidInput("no labelled texts to evaluate")
    unknown = sorted({str(v) for v in (*true_labels, *predicted_labels)} - set(LABELS))
    if unknown:
        raise InvalidInput(f"unknown sentiment labels {unknown}; expected {LABELS}")
    index = {label: i for i, label in enumerate(LABELS)}
    confusion = np.zeros((3, 3), dtype=np.int64)
    for true, predicted in zip(true_labels, predicted_labels, strict=True):
        confusion[index[true], index[predicted]] += 1
    support = confusion.sum(axis=1)
    predicted_counts = confusion.sum(axis=0)
    hits = np.diag(confusion)
    denominators = support + predicted_counts
    f1 = np.divide(
        2.0 * hits, denominators, out=np.zeros(3, dtype=np.float64), where=denominators > 0
    )
    return ClassificationReport(
        accuracy=float(hits.sum() / confusion.sum()),
        macro_f1=float(f1[denominators > 0].mean()),
        weighted_f1=float((f1 * support).sum() / support.sum()),
        per_label_f1=(float(f1[0]), float(f1[1]), float(f1[2])),
        confusion=tuple((int(row[0]), int(row[1]), int(row[2])) for row in confusion.tolist()),
        support=(int(support[0]), int(support[1]), int(support[2])),
    )
