"""Tiny transformer models that the tests build and save themselves: nothing is downloaded.

In transformers 5, ``BertTokenizerFast(vocab_file=...)`` ignores the vocabulary, so tokenizers
are built with the ``tokenizers`` library from an in-memory vocabulary and wrapped in
``PreTrainedTokenizerFast``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    BertModel,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedTokenizerFast,
)

from signals.sentiment.fingpt import FINGPT_PROMPT

BERT_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
BASE_WORDS = [
    "profit",
    "rose",
    "fell",
    "loss",
    "widened",
    "costs",
    "debt",
    "increased",
    "not",
    "profitable",
    "beat",
    "expectations",
    "missed",
    "estimates",
    "cut",
    "guidance",
    "the",
    "company",
    "said",
    "sales",
    "orders",
    "net",
    "operating",
    "eur",
    "mn",
    "in",
    "of",
    "to",
    "and",
    "a",
    "for",
    "was",
    "is",
    "its",
    "from",
    "with",
    "by",
    "on",
]


def words_of(texts: Iterable[str]) -> list[str]:
    """The distinct lower-cased words and punctuation of ``texts``, in first-seen order."""
    seen: dict[str, None] = {}
    for text in texts:
        for word in re.findall(r"\w+|[^\w\s]", text.lower()):
            seen.setdefault(word, None)
    return list(seen)


def wordpiece_tokenizer(words: Iterable[str]) -> PreTrainedTokenizerFast:
    """A BERT-style (lower-casing WordPiece) tokenizer over ``words`` plus the special tokens."""
    vocab: dict[str, int] = {}
    for token in [*BERT_SPECIALS, *BASE_WORDS, *words]:
        vocab.setdefault(token, len(vocab))
    tokenizer = Tokenizer(models.WordPiece(vocab=vocab, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    tokenizer.decoder = decoders.WordPiece()
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )


def tiny_bert_config(vocab_size: int, **extra: Any) -> BertConfig:
    return BertConfig(
        vocab_size=vocab_size,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=128,
        **extra,
    )


def save_tiny_bert_classifier(
    directory: Path, id2label: dict[int, str], *, words: Iterable[str] = (), seed: int = 0
) -> tuple[BertForSequenceClassification, PreTrainedTokenizerFast]:
    """A randomly initialised 1-layer BERT classifier with ``id2label``, saved to ``directory``."""
    tokenizer = wordpiece_tokenizer(words)
    torch.manual_seed(seed)
    config = tiny_bert_config(
        len(tokenizer),
        num_labels=len(id2label),
        id2label=id2label,
        label2id={v: k for k, v in id2label.items()},
    )
    model = BertForSequenceClassification(config).eval()
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return model, tokenizer


def save_tiny_bert_encoder(
    directory: Path, *, words: Iterable[str] = (), seed: int = 0
) -> tuple[BertModel, PreTrainedTokenizerFast]:
    """A randomly initialised 1-layer BERT encoder (no head), saved to ``directory``."""
    tokenizer = wordpiece_tokenizer(words)
    torch.manual_seed(seed)
    model = BertModel(tiny_bert_config(len(tokenizer))).eval()
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return model, tokenizer


def _prompt_pieces() -> list[str]:
    skeleton = FINGPT_PROMPT.format(text="").replace("\n", " ")
    return re.findall(r"\w+|[^\w\s]", skeleton)


def sentencepiece_like_tokenizer(words: Iterable[str]) -> PreTrainedTokenizerFast:
    """A Llama-like word-level tokenizer: a word after a space is ``▁word``, "Answer: " ends in ``▁``.

    So the answer's first token is ``▁positive``, glued to its space, as in SentencePiece.
    """
    vocab: dict[str, int] = {"<pad>": 0, "<unk>": 1, "<s>": 2, "</s>": 3, "▁": 4}
    for piece in [*_prompt_pieces(), "negative", "neutral", "positive", *words]:
        vocab.setdefault(piece, len(vocab))
        if piece[0].isalnum():
            vocab.setdefault("▁" + piece, len(vocab))
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tokenizer.normalizer = normalizers.Replace("\n", " ")
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first"),
            pre_tokenizers.Punctuation(),
        ]
    )
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A", special_tokens=[("<s>", vocab["<s>"])]
    )
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="first")
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
    )


def whitespace_tokenizer(words: Iterable[str]) -> PreTrainedTokenizerFast:
    """A word-level tokenizer that drops spaces: the answer's first token is plain ``positive``."""
    vocab: dict[str, int] = {"<pad>": 0, "<unk>": 1, "<s>": 2, "</s>": 3}
    for piece in [*_prompt_pieces(), "negative", "neutral", "positive", *words]:
        vocab.setdefault(piece, len(vocab))
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()]
    )
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A", special_tokens=[("<s>", vocab["<s>"])]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
    )


def save_tiny_llama(
    directory: Path, tokenizer: PreTrainedTokenizerFast, *, seed: int = 0
) -> LlamaForCausalLM:
    """A randomly initialised 2-layer Llama over ``tokenizer``, saved with it to ``directory``."""
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=False,
    )
    model = LlamaForCausalLM(config).eval()
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return model


def save_lora_adapter(base_dir: Path, adapter_dir: Path, *, nonzero: bool, seed: int = 1) -> None:
    """A LoRA adapter on ``q_proj``/``v_proj`` of the model in ``base_dir``, saved to ``adapter_dir``.

    With ``nonzero`` its B matrices are random (the adapter changes the outputs); otherwise they
    are zero, as peft initialises them (the adapter changes nothing).
    """
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(seed)
    base = LlamaForCausalLM.from_pretrained(base_dir, local_files_only=True)
    config = LoraConfig(
        r=4,
        lora_alpha=8,
        target_modules=["q_proj", "v_proj"],
        lora_dropout=0.0,
        init_lora_weights=not nonzero,
    )
    model = get_peft_model(base, config)
    if nonzero:
        with torch.no_grad():
            for name, parameter in model.named_parameters():
                if "lora_B" in name:
                    parameter.normal_(0.0, 0.5)
    model.save_pretrained(str(adapter_dir))


def save_tiny_gpt2(directory: Path, tokenizer: PreTrainedTokenizerFast, *, seed: int = 0) -> None:
    """A randomly initialised 2-layer GPT-2 (absolute positions) over ``tokenizer``, saved."""
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_embd=32,
        n_layer=2,
        n_head=4,
        n_positions=256,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    GPT2LMHeadModel(config).eval().save_pretrained(directory)
    tokenizer.save_pretrained(directory)
