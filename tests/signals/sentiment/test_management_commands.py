"""The three sentiment management commands, run through ``call_command``."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from tests.signals.sentiment.tiny_models import save_tiny_bert_classifier


def run(name: str, *args: str, stdin: str | None = None) -> str:
    out = io.StringIO()
    extra = {"stdin": io.StringIO(stdin)} if stdin is not None else {}
    call_command(name, *args, "--no-progress", stdout=out, stderr=io.StringIO(), **extra)
    return out.getvalue()


def test_score_sentiment_prints_json_lines(settings) -> None:
    settings.SENTIMENT_BACKEND = "embedded"
    settings.SENTIMENT_MODEL_DIR = ""
    output = run("score_sentiment", stdin="Profit rose.\nDebt increased.\n")
    rows = [json.loads(line) for line in output.splitlines()]
    assert [r["label"] for r in rows] == ["positive", "negative"]
    assert all(-1.0 <= r["score"] <= 1.0 for r in rows)


def test_score_sentiment_with_a_classifier_model(tmp_path: Path) -> None:
    save_tiny_bert_classifier(tmp_path, {0: "negative", 1: "neutral", 2: "positive"})
    output = run(
        "score_sentiment", "--backend", "classifier", "--model", str(tmp_path), stdin="a\nb\nc\n"
    )
    rows = [json.loads(line) for line in output.splitlines()]
    assert len(rows) == 3
    for row in rows:
        assert row["negative"] + row["neutral"] + row["positive"] == pytest.approx(1.0)


def test_score_sentiment_errors_name_what_is_missing(settings) -> None:
    settings.SENTIMENT_BACKEND = "embedded"
    with pytest.raises(CommandError, match=r"--model DIR is required for backend 'classifier'"):
        run("score_sentiment", "--backend", "classifier", stdin="x\n")


def test_evaluate_sentiment_ends_with_result(tmp_path: Path, settings) -> None:
    settings.SENTIMENT_BACKEND = "embedded"
    data = tmp_path / "data.csv"
    data.write_text(
        "text,label\nProfit rose.,positive\nLoss widened.,negative\nIt is in Espoo.,neutral\n",
        encoding="utf-8",
    )
    output = run("evaluate_sentiment", "--data", str(data))
    lines = output.splitlines()
    assert "confusion matrix (rows: true label, columns: predicted label):" in lines
    assert lines[-1] == "RESULT accuracy=1.0000 macro_f1=1.0000 weighted_f1=1.0000"


def test_evaluate_sentiment_reports_bad_rows(tmp_path: Path) -> None:
    data = tmp_path / "bad.csv"
    data.write_text("text,label\nProfit rose.,bullish\n", encoding="utf-8")
    with pytest.raises(CommandError, match=r"line 2: unknown label 'bullish'"):
        run("evaluate_sentiment", "--data", str(data), "--backend", "embedded")


def test_train_then_score_and_evaluate_with_the_local_model(
    fpb_sample_csv: Path, tmp_path: Path
) -> None:
    out_dir = tmp_path / "model"
    output = run(
        "train_sentiment", "--data", str(fpb_sample_csv), "--out", str(out_dir), "--linear-only"
    )
    assert output.splitlines()[-1].startswith("RESULT accuracy=")
    assert "trained on 72 texts" in output
    scored = run(
        "score_sentiment", "--backend", "local", "--model", str(out_dir), stdin="Profit rose.\n"
    )
    assert json.loads(scored)["label"] in {"negative", "neutral", "positive"}
    evaluated = run(
        "evaluate_sentiment",
        "--data",
        str(fpb_sample_csv),
        "--backend",
        "local",
        "--model",
        str(out_dir),
    )
    assert evaluated.splitlines()[-1].startswith("RESULT accuracy=")


def test_the_local_encoders_precision_from_the_options_or_the_setting(
    fpb_sample, tmp_path: Path, settings
) -> None:
    from signals.sentiment.local import TrainingOptions, train_local_model
    from tests.signals.sentiment.tiny_models import save_tiny_bert_encoder, words_of

    encoder = tmp_path / "encoder"
    save_tiny_bert_encoder(encoder, words=words_of(fpb_sample.texts))
    options = TrainingOptions(epochs=1, batch_size=16, max_length=48)
    model_dir = train_local_model(
        fpb_sample, base_model_dir=encoder, options=options, progress=False
    ).save(tmp_path / "model")
    lines = "Operating profit rose .\nNet loss widened .\nIt is based in Espoo .\n"
    local = ("score_sentiment", "--backend", "local", "--model", str(model_dir))

    settings.SENTIMENT_PRECISION = "float32"
    float32 = run(*local, stdin=lines)
    int8 = run(*local, "--precision", "int8", stdin=lines)
    assert int8 != float32
    assert run(*local, "--int8", stdin=lines) == int8
    settings.SENTIMENT_PRECISION = "int8"  # the setting, when no option is given
    assert run(*local, stdin=lines) == int8
    assert run(*local, "--precision", "float32", stdin=lines) == float32

    with pytest.raises(CommandError, match="--int8 contradicts --precision float32"):
        run(*local, "--int8", "--precision", "float32", stdin=lines)
    with pytest.raises(CommandError, match="backend 'embedded' does not take the option precision"):
        run("score_sentiment", "--backend", "embedded", "--precision", "int8", stdin=lines)
    settings.SENTIMENT_BACKEND = "embedded"  # the setting applies to the local backend only
    assert len(run("score_sentiment", "--backend", "embedded", stdin=lines).splitlines()) == 3
