"""Reading labelled CSV files: every problem named with its file and line; the seeded split."""

from __future__ import annotations

from pathlib import Path

import pytest

from portfolios.core.errors import InvalidInput, NotFound
from signals.sentiment.data import (
    LabelledTexts,
    parse_label,
    read_labelled_csv,
    read_labelled_csvs,
    stratified_split,
)
from signals.sentiment.types import Label


def write(tmp_path: Path, content: str, name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return path


def test_reads_texts_and_labels_forgiving_case_spaces_extra_columns_and_bom(
    tmp_path: Path,
) -> None:
    path = tmp_path / "data.csv"
    path.write_bytes(
        '\ufeffid,Label,TEXT\n1, Positive ,Profit rose\n2,negative,"Loss, widened"\n'
        '3,NEUTRAL,"two\nlines"\n'.encode()
    )
    data = read_labelled_csv(path)
    assert data.texts == ("Profit rose", "Loss, widened", "two\nlines")
    assert data.labels == ("positive", "negative", "neutral")
    assert data.counts() == {"negative": 1, "neutral": 1, "positive": 1}
    assert data.label_indices() == [2, 0, 1]


def test_missing_column_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, "text,sentiment\nProfit rose,positive\n")
    with pytest.raises(InvalidInput, match=r"missing column label; the header has text, sentiment"):
        read_labelled_csv(path)
    path = write(tmp_path, "body\nProfit rose\n")
    with pytest.raises(InvalidInput, match=r"missing columns text, label"):
        read_labelled_csv(path)


def test_unknown_label_is_reported_with_its_line_number(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "text,label\nProfit rose,positive\nShares fell,bearish\nFine,neutral\nOdd,\n",
    )
    with pytest.raises(InvalidInput) as caught:
        read_labelled_csv(path)
    message = caught.value.message
    assert "2 bad rows" in message
    assert "line 3: unknown label 'bearish'" in message
    assert "line 5: unknown label ''" in message
    assert str(path) in message
    assert caught.value.details == [
        "line 3: unknown label 'bearish' (expected negative, neutral or positive)",
        "line 5: unknown label '' (expected negative, neutral or positive)",
    ]


def test_empty_text_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path, "text,label\n  ,positive\n")
    with pytest.raises(InvalidInput, match="line 2: empty text"):
        read_labelled_csv(path)


def test_many_bad_rows_are_summarised(tmp_path: Path) -> None:
    rows = "".join(f"t{i},maybe\n" for i in range(30))
    with pytest.raises(InvalidInput, match=r"30 bad rows: .*; and 10 more$"):
        read_labelled_csv(write(tmp_path, "text,label\n" + rows))


def test_empty_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="the file is empty"):
        read_labelled_csv(write(tmp_path, ""))
    with pytest.raises(InvalidInput, match="no labelled rows"):
        read_labelled_csv(write(tmp_path, "text,label\n"))
    with pytest.raises(NotFound, match="no labelled CSV file at"):
        read_labelled_csv(tmp_path / "absent.csv")
    with pytest.raises(InvalidInput, match="at least one labelled CSV file"):
        read_labelled_csvs([])


def test_non_utf8_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes("text,label\nbénéfice,positive\n".encode("latin-1"))
    with pytest.raises(InvalidInput, match="not UTF-8"):
        read_labelled_csv(path)


def test_several_files_are_concatenated(tmp_path: Path) -> None:
    first = write(tmp_path, "text,label\na,positive\n", "a.csv")
    second = write(tmp_path, "label,text\nnegative,b\nneutral,c\n", "b.csv")
    data = read_labelled_csvs([first, second])
    assert data.texts == ("a", "b", "c")
    assert data.labels == ("positive", "negative", "neutral")


def test_parse_label() -> None:
    assert parse_label(" NEGATIVE ") == "negative"
    assert parse_label("bullish") is None


def test_stratified_split_is_seeded_disjoint_and_proportional() -> None:
    counts: dict[Label, int] = {"negative": 20, "neutral": 50, "positive": 30}
    labels = tuple(label for label, count in counts.items() for _ in range(count))
    data = LabelledTexts(texts=tuple(f"t{i}" for i in range(100)), labels=labels)
    training, validation = stratified_split(data, validation_fraction=0.2, seed=3)
    assert validation.counts() == {"negative": 4, "neutral": 10, "positive": 6}
    assert len(training) == 80
    assert not set(training.texts) & set(validation.texts)
    again = stratified_split(data, validation_fraction=0.2, seed=3)
    assert again == (training, validation)
    other = stratified_split(data, validation_fraction=0.2, seed=4)
    assert other[1].texts != validation.texts


def test_split_keeps_rare_labels_on_both_sides_and_zero_keeps_all() -> None:
    data = LabelledTexts(
        texts=("a", "b", "c", "d", "e"),
        labels=("negative", "negative", "neutral", "neutral", "positive"),
    )
    training, validation = stratified_split(data, validation_fraction=0.1, seed=0)
    assert validation.counts() == {"negative": 1, "neutral": 1, "positive": 0}
    assert training.counts() == {"negative": 1, "neutral": 1, "positive": 1}
    everything, nothing = stratified_split(data, validation_fraction=0.0, seed=0)
    assert len(everything) == 5 and len(nothing) == 0
    with pytest.raises(InvalidInput, match="validation fraction"):
        stratified_split(data, validation_fraction=1.0, seed=0)


def test_texts_and_labels_must_pair_up() -> None:
    with pytest.raises(InvalidInput, match="2 texts but 1 labels"):
        LabelledTexts(texts=("a", "b"), labels=("neutral",))
