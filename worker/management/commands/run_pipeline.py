"""``python manage.py run_pipeline``: run the signal pipeline in this process, stage by stage."""

from __future__ import annotations

from argparse import ArgumentParser
from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from tqdm import tqdm

from portfolios.core.errors import DomainError
from worker.models import PipelineRun, PipelineStage
from worker.pipeline import STAGES, run_pipeline


def _moment(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.utcoffset() is None:
        raise ValueError(f"{text!r} has no timezone; add Z or an offset")
    return moment


class Command(BaseCommand):
    help = (
        "Run the signal pipeline now (ingest, score, detect, views, recommendations...), "
        "resuming an interrupted run if there is one, and report each stage."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--now",
            help="Run as of this ISO time with a timezone (default: now); live feeds "
            "are only read for the present",
        )
        parser.add_argument("--resume", type=int, metavar="RUN_ID", help="Resume this run")
        parser.add_argument("--no-progress", action="store_true", help="Hide the progress bar")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            now = _moment(options["now"]) if options["now"] else timezone.now()
        except ValueError as exc:
            raise CommandError(f"--now: {exc}") from exc
        run = None
        if options["resume"] is not None:
            run = PipelineRun.objects.filter(pk=options["resume"]).first()
            if run is None:
                raise CommandError(f"no pipeline run {options['resume']}")
        bar = tqdm(total=len(STAGES), unit="stage", disable=options["no_progress"])
        lines: list[str] = []

        def progress(stage: PipelineStage) -> None:
            if stage.status != PipelineStage.Status.SUCCEEDED:
                bar.set_description(stage.name)
                return
            bar.update(1)
            counts = ", ".join(f"{k}={v}" for k, v in stage.counts.items())
            seconds = f"{stage.duration_seconds:6.2f} s" if stage.duration_seconds else "  done  "
            lines.append(f"  {stage.name:<16}{seconds}  {counts}")
            lines.extend(f"  {'':<16}          {note}" for note in stage.notes[:8])

        try:
            run = run_pipeline(now=now, run=run, progress=progress)
        except DomainError as exc:
            bar.close()
            self._report(lines)
            raise CommandError(exc.message) from exc
        except Exception as exc:
            bar.close()
            self._report(lines)
            raise CommandError(f"the pipeline failed: {type(exc).__name__}: {exc}") from exc
        bar.close()
        total = run.duration.total_seconds() if run.duration else 0.0
        self.stdout.write(
            self.style.SUCCESS(
                f"Pipeline run {run.pk} as of {run.as_of:%Y-%m-%d %H:%M %Z} {run.status} "
                f"in {total:.1f} s."
            )
        )
        self._report(lines)

    def _report(self, lines: list[str]) -> None:
        for line in lines:
            self.stdout.write(line)
