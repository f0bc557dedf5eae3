"""The commands' logic as plain functions: scoring lines, evaluating, choosing the backend."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from signals.sentiment.commands import (
    choose_backend,
    evaluate_scorer,
    evaluation_text,
    score_lines,
)
from signals.sentiment.data import LabelledTexts
from signals.sentiment.lexicon import LexiconScorer


def test_score_lines_prints_one_json_object_per_line() -> None:
    lines = io.StringIO("Profit rose.\n\nLoss widened.\r\nThe company is in Espoo.")
    out = io.StringIO()
    count = score_lines(LexiconScorer(), lines, out, chunk_size=2, progress=False)
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert count == len(rows) == 4
    assert [r["label"] for r in rows] == ["positive", "neutral", "negative", "neutral"]
    for row in rows:
        assert set(row) == {"label", "score", "negative", "neutral", "positive"}
        assert -1.0 <= row["score"] <= 1.0
        assert row["negative"] + row["neutral"] + row["positive"] == pytest.approx(1.0)
        assert row["score"] == pytest.approx(row["positive"] - row["negative"])


def test_progress_goes_to_the_given_stream() -> None:
    progress = io.StringIO()
    score_lines(
        LexiconScorer(),
        io.StringIO("a\nb\n"),
        io.StringIO(),
        progress=True,
        progress_stream=progress,
    )
    assert "scoring (embedded)" in progress.getvalue()


def test_evaluation_ends_with_the_result_line() -> None:
    data = LabelledTexts(
        texts=("Profit rose.", "Loss widened.", "It is in Espoo.", "Sales fell."),
        labels=("positive", "negative", "neutral", "positive"),
    )
    report = evaluate_scorer(LexiconScorer(), data, progress=False)
    assert report.accuracy == 0.75
    text = evaluation_text(report, backend="embedded", files=["x.csv"])
    assert text.splitlines()[0] == "backend: embedded"
    assert text.splitlines()[-1] == "RESULT accuracy=0.7500 macro_f1=0.7778 weighted_f1=0.7500"


@pytest.mark.parametrize(
    ("arguments", "configured", "expected"),
    [
        ((None, None), ("embedded", ""), ("embedded", None)),
        ((None, None), ("", None), ("embedded", None)),
        ((None, None), ("local", "/models/local"), ("local", "/models/local")),
        (("local", None), ("local", "/models/local"), ("local", "/models/local")),
        (("classifier", None), ("local", "/models/local"), ("classifier", None)),
        (("embedded", None), ("local", "/models/local"), ("embedded", None)),
        (("classifier", "/m/finbert"), ("local", "/models/local"), ("classifier", "/m/finbert")),
    ],
)
def test_choose_backend(arguments, configured, expected) -> None:
    backend, model = arguments
    assert (
        choose_backend(
            backend, model, configured_backend=configured[0], configured_model_dir=configured[1]
        )
        == expected
    )


def test_score_lines_reads_files(tmp_path: Path) -> None:
    path = tmp_path / "lines.txt"
    path.write_text("Profit rose.\nDebt increased.\n", encoding="utf-8")
    out = io.StringIO()
    with path.open(encoding="utf-8") as lines:
        assert score_lines(LexiconScorer(), lines, out, progress=False) == 2
