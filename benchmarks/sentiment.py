"""Headlines per second of the ``local`` sentiment model, against a bert-base-sized classifier.

    python benchmarks/sentiment.py [--model DIR] [--threads 2] [--batch-size 32] [--texts 512]

Without ``--model`` the benchmark first trains the local model itself on the training part of the
Financial PhraseBank split in ``../shared/data/sentiment/fpb50_train.csv`` (a seeded, stratified
20 % held out; ``--epochs 1`` by default, to be quick) and prints its validation accuracy. It then
scores the same headlines, with the same batch size and thread count, with the local model and
with a randomly initialised ``BertForSequenceClassification`` of bert-base dimensions (12 layers,
hidden 768: its speed does not depend on its weights). The local model is timed with its encoder
in each precision: float32 (the default), bfloat16 (where the CPU has bfloat16 arithmetic) and
int8. The last line, ``RESULT headlines_per_s=<n> ratio_vs_bert_base=<r>``, is for
``--precision`` (float32 unless given; ``--int8`` is ``--precision int8``).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DEFAULT_DATA = (REPO / ".." / "shared" / "data" / "sentiment" / "fpb50_train.csv").resolve()


def headlines_per_second(
    score: Callable[[Sequence[str]], object], texts: Sequence[str], *, repeats: int
) -> float:
    """The best of ``repeats`` timed runs of ``score(texts)``, after one warm-up batch."""
    score(texts[:8])
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        score(texts)
        best = min(best, time.perf_counter() - start)
    return len(texts) / best


def bert_base_scorer(tokenizer: Any, *, batch_size: int) -> Callable[[Sequence[str]], object]:
    """What the ``classifier`` backend does per batch, with a random bert-base-sized model."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    config = BertConfig(vocab_size=max(len(tokenizer), 30522))
    config.num_labels = 3
    model = BertForSequenceClassification(config).eval()

    def score(texts: Sequence[str]) -> object:
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = []
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                batch = [texts[i] for i in order[start : start + batch_size]]
                encoded = tokenizer(
                    batch, padding=True, truncation=True, max_length=256, return_tensors="pt"
                )
                out.append(torch.softmax(model(**encoded).logits, dim=-1))
        return out

    return score


def fallback_tokenizer(texts: Sequence[str]) -> Any:
    """A lower-casing WordPiece tokenizer over the headlines' words (when no BERT vocabulary)."""
    import re

    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab: dict[str, int] = {}
    for token in ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]:
        vocab.setdefault(token, len(vocab))
    for text in texts:
        for word in re.findall(r"\w+|[^\w\s]", text.lower()):
            vocab.setdefault(word, len(vocab))
    tokenizer = Tokenizer(models.WordPiece(vocab=vocab, unk_token="[UNK]"))  # noqa: S106
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token="[UNK]",  # noqa: S106
        pad_token="[PAD]",  # noqa: S106
        cls_token="[CLS]",  # noqa: S106
        sep_token="[SEP]",  # noqa: S106
    )


def main(argv: Sequence[str] | None = None) -> int:
    from signals.sentiment.runtime import PRECISIONS

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, help="A trained local model (else train one)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="Labelled CSV file")
    parser.add_argument("--base-model", type=Path, help="Encoder to fine-tune when training")
    parser.add_argument("--linear-only", action="store_true", help="Train without an encoder")
    parser.add_argument("--epochs", type=int, default=1, help="Fine-tuning epochs when training")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--texts", type=int, default=512, help="Headlines to score per run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-bert-base", action="store_true")
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="float32",
        help="The encoder precision the RESULT line reports",
    )
    parser.add_argument("--int8", action="store_true", help="The same as --precision int8")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    from signals.sentiment._encoder import bfloat16_supported
    from signals.sentiment.commands import evaluate_scorer
    from signals.sentiment.data import read_labelled_csv, stratified_split
    from signals.sentiment.local import (
        LocalScorer,
        TrainingOptions,
        resolve_base_encoder,
        train_local_model,
    )

    data = read_labelled_csv(args.data)
    training, validation = stratified_split(data, validation_fraction=0.2, seed=0)
    workdir = tempfile.TemporaryDirectory(prefix="sentiment-benchmark-")
    model_dir = args.model
    if model_dir is None:
        base = None if args.linear_only else resolve_base_encoder(args.base_model)
        print(f"training the local model on {len(training)} texts of {args.data.name}")
        print(f"encoder: {base if base is not None else 'none (linear part only)'}")
        start = time.perf_counter()
        model = train_local_model(
            training, base_model_dir=base, options=TrainingOptions(epochs=args.epochs)
        )
        print(f"trained in {time.perf_counter() - start:.0f} s ({args.epochs} epoch(s))")
        model_dir = model.save(Path(workdir.name) / "local")
    reported = "int8" if args.int8 else args.precision
    if reported == "bfloat16" and not bfloat16_supported():
        raise SystemExit("this CPU has no bfloat16 arithmetic: report float32 or int8")
    scorer = LocalScorer(model_dir, batch_size=args.batch_size)
    if args.model is None:
        report = evaluate_scorer(scorer, validation, progress=False)
        print(
            f"validation ({len(validation)} held-out texts): accuracy {report.accuracy:.4f}, "
            f"macro-F1 {report.macro_f1:.4f}, weighted-F1 {report.weighted_f1:.4f}"
        )

    pool = list(validation.texts) or list(data.texts)
    texts = [pool[i % len(pool)] for i in range(args.texts)]
    print(
        f"scoring {len(texts)} headlines, batch {args.batch_size}, {args.threads} thread(s), "
        f"best of {args.repeats}"
    )
    rates = {"float32": headlines_per_second(scorer.score_batch, texts, repeats=args.repeats)}
    print(f"local model (float32 encoder, the default): {rates['float32']:.1f} headlines/s")
    if scorer.model.encoder is not None:
        others = ["bfloat16", "int8"] if bfloat16_supported() else ["int8"]
        if "bfloat16" not in others:
            print("local model (bfloat16 encoder): skipped, this CPU has no bfloat16 arithmetic")
        for precision in others:
            other = LocalScorer(model_dir, batch_size=args.batch_size, precision=precision)
            rates[precision] = headlines_per_second(other.score_batch, texts, repeats=args.repeats)
            print(f"local model ({precision} encoder): {rates[precision]:.1f} headlines/s")
    local_rate = rates.get(reported, rates["float32"])
    ratio = float("nan")
    if not args.skip_bert_base:
        encoder = scorer.model.encoder
        tokenizer = encoder.tokenizer if encoder is not None else None
        if tokenizer is None:
            packaged = resolve_base_encoder(None)
            if packaged is not None:
                from transformers import AutoTokenizer

                tokenizer = AutoTokenizer.from_pretrained(packaged, local_files_only=True)
        if tokenizer is None:
            print("tokenizer for bert-base: a WordPiece vocabulary of the headlines' words")
            tokenizer = fallback_tokenizer(texts)
        bert_rate = headlines_per_second(
            bert_base_scorer(tokenizer, batch_size=args.batch_size), texts, repeats=args.repeats
        )
        ratio = local_rate / bert_rate
        print(f"bert-base-sized classifier (fp32): {bert_rate:.1f} headlines/s")
    workdir.cleanup()
    print(f"RESULT headlines_per_s={local_rate:.1f} ratio_vs_bert_base={ratio:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
