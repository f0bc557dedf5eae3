"""``python manage.py evaluate_sentiment --data CSV [--backend NAME] [--model DIR]``.

Prints accuracy, macro-F1, weighted-F1 and the confusion matrix; the last line is
``RESULT accuracy=<a> macro_f1=<m> weighted_f1=<w>``.
"""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from portfolios.core.errors import DomainError
from signals.sentiment.commands import (
    add_precision_arguments,
    choose_backend,
    choose_precision,
    evaluate_scorer,
    evaluation_text,
)
from signals.sentiment.data import read_labelled_csvs
from signals.sentiment.registry import BACKENDS, scorer_for


class Command(BaseCommand):
    help = (
        "Evaluate a sentiment backend on labelled CSV files (columns text,label; labels "
        "negative/neutral/positive): accuracy, macro- and weighted-F1, confusion matrix."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--data", action="append", required=True, help="Labelled CSV file (repeatable)"
        )
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
        parser.add_argument("--no-progress", action="store_true", help="Hide the progress bar")

    def handle(self, *args: Any, **options: Any) -> None:
        backend, model_dir = choose_backend(
            options["backend"],
            options["model"],
            configured_backend=getattr(settings, "SENTIMENT_BACKEND", None),
            configured_model_dir=getattr(settings, "SENTIMENT_MODEL_DIR", None),
        )
        try:
            data = read_labelled_csvs(options["data"])
            scorer = scorer_for(
                backend,
                model_dir=model_dir,
                batch_size=options["batch_size"],
                adapter_dir=options["adapter"],
                base_model_dir=options["base_model"],
                precision=choose_precision(options["precision"], int8=options["int8"]),
            )
            report = evaluate_scorer(scorer, data, progress=not options["no_progress"])
        except DomainError as error:
            raise CommandError(error.message) from error
        self.stdout.write(evaluation_text(report, backend=scorer.name, files=options["data"]))
