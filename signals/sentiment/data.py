"""Labelled sentiment data: reading ``text,label`` CSV files with clear errors, and a seeded split.

A labelled file has a header with the columns ``text`` and ``label`` (others are ignored) and
labels ``negative``, ``neutral`` or ``positive`` (case and surrounding spaces are forgiven). Every
problem is reported with the file and line it is on, all of them at once.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from portfolios.core.errors import InvalidInput, NotFound
from signals.sentiment.types import LABELS, Label

_MAX_REPORTED_PROBLEMS = 20


@dataclass(frozen=True, slots=True)
class LabelledTexts:
    """Texts with their sentiment labels, in the same order."""

    texts: tuple[str, ...]
    labels: tuple[Label, ...]

    def __post_init__(self) -> None:
        if len(self.texts) != len(self.labels):
            raise InvalidInput(
                f"{len(self.texts)} texts but {len(self.labels)} labels: they must pair up"
            )

    def __len__(self) -> int:
        return len(self.texts)

    def label_indices(self) -> list[int]:
        """Each label as its index in :data:`LABELS` (0 negative, 1 neutral, 2 positive)."""
        return [LABELS.index(label) for label in self.labels]

    def counts(self) -> dict[Label, int]:
        """How many texts carry each label."""
        return {label: self.labels.count(label) for label in LABELS}

    def subset(self, indices: Iterable[int]) -> LabelledTexts:
        """The texts at ``indices``, in that order."""
        chosen = list(indices)
        return LabelledTexts(
            texts=tuple(self.texts[i] for i in chosen),
            labels=tuple(self.labels[i] for i in chosen),
        )

    @classmethod
    def concatenate(cls, parts: Sequence[LabelledTexts]) -> LabelledTexts:
        """All the parts, one after another."""
        return cls(
            texts=tuple(t for part in parts for t in part.texts),
            labels=tuple(label for part in parts for label in part.labels),
        )


def parse_label(value: str) -> Label | None:
    """The label named by ``value`` (case-insensitive, spaces trimmed), or None."""
    cleaned = value.strip().lower()
    for label in LABELS:
        if cleaned == label:
            return label
    return None


def read_labelled_csv(path: str | Path) -> LabelledTexts:
    """The texts and labels of one ``text,label`` CSV file.

    Raises
    ------
    NotFound
        The file does not exist.
    InvalidInput
        The file is empty, lacks a ``text`` or ``label`` column, or has rows with an empty text or
        an unknown label; the message lists the offending lines (numbered from 1, the header
        being line 1).
    """
    file = Path(path)
    if not file.is_file():
        raise NotFound(f"no labelled CSV file at {file}", field="data")
    try:
        with file.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            columns = [c.strip().lower() for c in reader.fieldnames or []]
            if not columns:
                raise InvalidInput(f"{file}: the file is empty; expected a header text,label")
            missing = [c for c in ("text", "label") if c not in columns]
            if missing:
                raise InvalidInput(
                    f"{file}: missing column{'s' if len(missing) > 1 else ''} "
                    f"{', '.join(missing)}; the header has {', '.join(columns) or 'nothing'} "
                    "and must name the columns text and label",
                    field="data",
                )
            text_key = (reader.fieldnames or [])[columns.index("text")]
            label_key = (reader.fieldnames or [])[columns.index("label")]
            texts: list[str] = []
            labels: list[Label] = []
            problems: list[str] = []
            for row in reader:
                line = reader.line_num
                text = (row.get(text_key) or "").strip()
                raw_label = row.get(label_key) or ""
                label = parse_label(raw_label)
                if label is None:
                    problems.append(
                        f"line {line}: unknown label {raw_label.strip()!r} "
                        f"(expected negative, neutral or positive)"
                    )
                elif not text:
                    problems.append(f"line {line}: empty text")
                else:
                    texts.append(text)
                    labels.append(label)
    except UnicodeDecodeError as error:
        raise InvalidInput(f"{file}: not UTF-8 text ({error})", field="data") from error
    except csv.Error as error:
        raise InvalidInput(f"{file}: not a readable CSV file ({error})", field="data") from error
    if problems:
        shown = problems[:_MAX_REPORTED_PROBLEMS]
        more = len(problems) - len(shown)
        raise InvalidInput(
            f"{file}: {len(problems)} bad row{'s' if len(problems) > 1 else ''}: "
            + "; ".join(shown)
            + (f"; and {more} more" if more else ""),
            field="data",
            details=problems,
        )
    if not texts:
        raise InvalidInput(f"{file}: no labelled rows under the header", field="data")
    return LabelledTexts(texts=tuple(texts), labels=tuple(labels))


def read_labelled_csvs(paths: Sequence[str | Path]) -> LabelledTexts:
    """The rows of several labelled CSV files, one file after another."""
    if not paths:
        raise InvalidInput("at least one labelled CSV file is needed (--data CSV)", field="data")
    return LabelledTexts.concatenate([read_labelled_csv(p) for p in paths])


def stratified_split(
    data: LabelledTexts, *, validation_fraction: float, seed: int
) -> tuple[LabelledTexts, LabelledTexts]:
    """``(training, validation)``: each label split in the same proportion, reproducibly.

    Every label with at least two texts keeps at least one in training and, when
    ``validation_fraction`` > 0, puts at least one in validation.
    """
    if not 0.0 <= validation_fraction < 1.0:
        raise InvalidInput(
            f"validation fraction must lie in [0, 1), got {validation_fraction}",
            field="validation_fraction",
        )
    rng = random.Random(seed)
    training: list[int] = []
    validation: list[int] = []
    for label in LABELS:
        members = [i for i, value in enumerate(data.labels) if value == label]
        rng.shuffle(members)
        take = round(len(members) * validation_fraction)
        if validation_fraction > 0.0 and len(members) >= 2:
            take = min(max(take, 1), len(members) - 1)
        validation.extend(members[:take])
        training.extend(members[take:])
    return data.subset(sorted(training)), data.subset(sorted(validation))
