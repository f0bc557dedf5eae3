"""``python manage.py score_sentiment [--backend NAME] [--model DIR] < lines.txt``.

Prints one JSON object per input line: its label, its score (p_pos - p_neg, in [-1, 1]) and the
three probabilities.
"""

from __future__ import annotations

import sys
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from portfolios.core.errors import DomainError
from signals.sentiment.commands import (
    add_precision_arguments,
    choose_backend,
    choose_precision,
    score_lines,
)
from signals.sentiment.registry import BACKENDS, scorer_for


class Command(BaseCommand):
    help = (
        "Score the sentiment of news, one text per line from standard input (or --input FILE); "
        "print one JSON object per line with label, score and the three probabilities."
    )
    stealth_options = ("stdin",)

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--backend",
            choices=BACKENDS,
            help="Sentiment backend (default: the SENTIMENT_BACKEND setting)",
        )
        parser.add_argument(
            "--model", help="Model directory (default: the SENTIMENT_MODEL_DIR setting)"
        )
        parser.add_argument("--adapter", help="fingpt: a LoRA adapter directory")
        parser.add_argument("--base-model", help="fingpt: the base model of a LoRA adapter")
        parser.add_argument("--batch-size", type=int, help="Texts per model batch")
        add_precision_arguments(parser)
        parser.add_argument("--input", type=Path, help="Read the lines from FILE, not stdin")
        parser.add_argument("--no-progress", action="store_true", help="Hide the progress bar")

    def handle(self, *args: Any, **options: Any) -> None:
        backend, model_dir = choose_backend(
            options["backend"],
            options["model"],
            configured_backend=getattr(settings, "SENTIMENT_BACKEND", None),
            configured_model_dir=getattr(settings, "SENTIMENT_MODEL_DIR", None),
        )
        extra = {
            "batch_size": options["batch_size"],
            "adapter_dir": options["adapter"],
            "base_model_dir": options["base_model"],
        }
        try:
            extra["precision"] = choose_precision(options["precision"], int8=options["int8"])
            scorer = scorer_for(backend, model_dir=model_dir, **extra)
            if options["input"] is not None:
                if not options["input"].is_file():
                    raise CommandError(f"{options['input']}: no such file")
                with options["input"].open(encoding="utf-8") as lines:
                    score_lines(scorer, lines, self.stdout, progress=not options["no_progress"])
            else:
                lines = options.get("stdin") or sys.stdin
                score_lines(scorer, lines, self.stdout, progress=not options["no_progress"])
        except DomainError as error:
            raise CommandError(error.message) from error
