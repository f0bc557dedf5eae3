"""Fixtures of the sentiment tests: small labelled samples of the shared datasets."""

from __future__ import annotations

import csv
import random
from pathlib import Path

import pytest

from signals.sentiment.data import LabelledTexts, read_labelled_csv
from tests.conftest import SHARED_DATA

SENTIMENT_DATA = SHARED_DATA / "sentiment"


@pytest.fixture(scope="session")
def fpb_file() -> Path:
    path = SENTIMENT_DATA / "fpb50_train.csv"
    if not path.is_file():
        pytest.fail(f"the shared sentiment data is missing: {path}")
    return path


@pytest.fixture(scope="session")
def fpb_sample(fpb_file: Path) -> LabelledTexts:
    """30 sentences of each label from the FPB training file, seeded."""
    data = read_labelled_csv(fpb_file)
    rng = random.Random(7)
    chosen: list[int] = []
    for label in ("negative", "neutral", "positive"):
        members = [i for i, value in enumerate(data.labels) if value == label]
        chosen.extend(rng.sample(members, 30))
    return data.subset(sorted(chosen))


@pytest.fixture
def fpb_sample_csv(fpb_sample: LabelledTexts, tmp_path: Path) -> Path:
    path = tmp_path / "sample.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(zip(fpb_sample.texts, fpb_sample.labels, strict=True))
    return path
