"""The scheduled signal pipeline: ingest, score, detect, build views, recompute recommendations.

A :class:`~worker.models.PipelineRun` holds one row per stage. The stages run in order, as a
Celery chain of ``worker.tasks.pipeline_stage`` tasks (:func:`pipeline_schedule`, on the beat
schedule) or in-process (:func:`run_pipeline`, for ``manage.py run_pipeline`` and the embedded
demo). A stage that succeeded is never run again; a stage found "running" was interrupted (its
worker died) and is redone; every stage is idempotent, so redoing one duplicates nothing.

Progress and timings are in the admin (the run and stage rows) and in ``/metrics``:
``pipeline_stage_seconds{stage}``, ``pipeline_stage_failures_total{stage}``,
``pipeline_runs_total{status}`` and ``pipeline_last_success_timestamp`` (read from the database,
so any web process reports the runs of every worker).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from prometheus_client import Counter, Gauge, Histogram

from portfolios.clock import firm_today
from portfolios.core.errors import Conflict, DomainError, InvalidInput, NotFound
from signals.pipeline import SIGNAL_STAGES, StageResult
from worker.models import PipelineRun, PipelineStage

if TYPE_CHECKING:
    from celery.canvas import Signature

logger = logging.getLogger("worker.pipeline")

PIPELINE_STAGE_SECONDS = Histogram(
    "pipeline_stage_seconds",
    "Seconds each signal-pipeline stage took, by stage",
    ["stage"],
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
)
PIPELINE_STAGE_FAILURES = Counter(
    "pipeline_stage_failures", "Signal-pipeline stages that raised, by stage", ["stage"]
)
PIPELINE_RUNS = Counter(
    "pipeline_runs", "Signal-pipeline runs finished, by outcome (succeeded, failed)", ["status"]
)
PIPELINE_LAST_SUCCESS = Gauge(
    "pipeline_last_success_timestamp",
    "Unix time the last signal-pipeline run succeeded (0: never)",
)


def _last_success() -> float:
    try:
        finished = PipelineRun.objects.filter(status=PipelineRun.Status.SUCCEEDED).aggregate(
            last=Max("finished_at")
        )["last"]
    except Exception:  # a scrape must not fail because the database is away
        return float("nan")
    return finished.timestamp() if finished else 0.0


PIPELINE_LAST_SUCCESS.set_function(_last_success)


def _signal_stage(name: str) -> Callable[[PipelineRun], StageResult]:
    stage = SIGNAL_STAGES[name]

    def run_stage(run: PipelineRun) -> StageResult:
        return stage(run=run.label, now=run.as_of)

    run_stage.__name__ = f"stage_{name}"
    return run_stage


def stage_recommendations(run: PipelineRun) -> StageResult:
    """Recompute every household's recommendation with the views just built (as of the run's
    day in the firm's zone)."""
    from advisor.services.recommendations import recommendations_refresh

    report = recommendations_refresh(as_of=firm_today(run.as_of))
    return StageResult(
        counts={
            "created": report.created,
            "failed": len(report.failed),
            "distinct_solves": report.distinct_solves,
        },
        notes=tuple(f"household {pk}: {message}" for pk, message in report.failed.items()),
    )


def stage_proposals(run: PipelineRun) -> StageResult:
    """Check every account against its (new) target: harvests, drift and cash flows become
    proposals for the advisors; the run's day is the pricing date."""
    from advisor.services.proposals import proposals_run

    report = proposals_run(as_of=firm_today(run.as_of), now=run.as_of)
    return StageResult(
        counts={
            "accounts": report.accounts,
            "proposals": report.proposals,
            "harvests": report.harvests,
        },
        notes=tuple(f"account {pk}: {message}" for pk, message in report.errors.items()),
    )


#: The stages in the order they run.
STAGES: dict[str, Callable[[PipelineRun], StageResult]] = {
    **{name: _signal_stage(name) for name in SIGNAL_STAGES},
    "recommendations": stage_recommendations,
    "proposals": stage_proposals,
}


def stale_after() -> timedelta:
    """How long a stage may show "running" before it counts as interrupted: the task time limit
    and a minute."""
    return timedelta(seconds=int(getattr(settings, "CELERY_TASK_TIME_LIMIT", 360) or 360) + 60)


#: An interrupted run older than this is abandoned (failed) rather than resumed.
RESUME_WITHIN = timedelta(hours=6)


def pipeline_run_create(*, now: datetime, trigger: str = PipelineRun.Trigger.MANUAL) -> PipelineRun:
    """A new run as of ``now`` with every stage pending."""
    if now.utcoffset() is None:
        raise InvalidInput("now must be timezone-aware", field="now")
    with transaction.atomic():
        run = PipelineRun.objects.create(as_of=now, trigger=trigger, started_at=timezone.now())
        PipelineStage.objects.bulk_create(
            [
                PipelineStage(run=run, name=name, position=position)
                for position, name in enumerate(STAGES, start=1)
            ]
        )
    return run


def _last_activity(run: PipelineRun) -> datetime:
    stamps = [run.started_at]
    for started, finished in run.stages.values_list("started_at", "finished_at"):
        stamps.extend(s for s in (started, finished) if s is not None)
    return max(stamps)


def pipeline_run_open(
    *, now: datetime, trigger: str = PipelineRun.Trigger.MANUAL
) -> PipelineRun | None:
    """The run to execute next: the latest interrupted one (to resume), else a new one as of
    ``now``. ``None`` while a run is in progress (it did something within :func:`stale_after`).

    A run left "running" for longer than :data:`RESUME_WITHIN` is marked failed, not resumed.
    """
    wall = timezone.now()
    running = (
        PipelineRun.objects.filter(status=PipelineRun.Status.RUNNING)
        .order_by("-started_at", "-id")
        .first()
    )
    if running is not None:
        if _last_activity(running) >= wall - stale_after():
            return None
        if running.started_at >= wall - RESUME_WITHIN:
            logger.info("resuming interrupted pipeline run %s", running.pk)
            return running
        PipelineRun.objects.filter(pk=running.pk, status=PipelineRun.Status.RUNNING).update(
            status=PipelineRun.Status.FAILED,
            finished_at=wall,
            error="interrupted and not resumed in time",
        )
        PIPELINE_RUNS.labels(status="failed").inc()
    return pipeline_run_create(now=now, trigger=trigger)


def _message(exc: BaseException) -> str:
    text = exc.message if isinstance(exc, DomainError) else f"{type(exc).__name__}: {exc}"
    return text[:2000]


def pipeline_stage_execute(*, run_id: int, stage: str) -> PipelineStage:
    """Run one stage of a run, unless it already succeeded; the run succeeds with its last stage.

    A stage runs only after every earlier stage succeeded. Its row records the attempt, the
    timings, the counts and notes, or the error (which is then raised again).
    """
    if stage not in STAGES:
        raise NotFound(f"no pipeline stage named {stage!r}", field="stage")
    with transaction.atomic():
        try:
            record = (
                PipelineStage.objects.select_for_update()
                .select_related("run")
                .get(run_id=run_id, name=stage)
            )
        except PipelineStage.DoesNotExist:
            raise NotFound(f"pipeline run {run_id} has no stage {stage}", field="stage") from None
        if record.status == PipelineStage.Status.SUCCEEDED:
            return record
        waiting = (
            PipelineStage.objects.filter(run_id=run_id, position__lt=record.position)
            .exclude(status=PipelineStage.Status.SUCCEEDED)
            .order_by("position")
            .values_list("name", flat=True)
            .first()
        )
        if waiting is not None:
            raise Conflict(f"stage {stage} of run {run_id} waits for stage {waiting}")
        record.status = PipelineStage.Status.RUNNING
        record.attempts += 1
        record.started_at = timezone.now()
        record.finished_at = None
        record.duration_seconds = None
        record.error = ""
        record.save(
            update_fields=[
                "status",
                "attempts",
                "started_at",
                "finished_at",
                "duration_seconds",
                "error",
            ]
        )
        PipelineRun.objects.filter(pk=run_id).update(
            status=PipelineRun.Status.RUNNING, finished_at=None, error=""
        )
    run = record.run
    started = time.monotonic()
    try:
        result = STAGES[stage](run)
    except BaseException as exc:
        elapsed = time.monotonic() - started
        message = _message(exc)
        finished = timezone.now()
        PipelineStage.objects.filter(pk=record.pk).update(
            status=PipelineStage.Status.FAILED,
            finished_at=finished,
            duration_seconds=elapsed,
            error=message,
        )
        PipelineRun.objects.filter(pk=run_id).update(
            status=PipelineRun.Status.FAILED, finished_at=finished, error=f"{stage}: {message}"
        )
        PIPELINE_STAGE_FAILURES.labels(stage=stage).inc()
        PIPELINE_RUNS.labels(status="failed").inc()
        logger.exception("pipeline run %s: stage %s failed", run_id, stage)
        raise
    elapsed = time.monotonic() - started
    PIPELINE_STAGE_SECONDS.labels(stage=stage).observe(elapsed)
    record.status = PipelineStage.Status.SUCCEEDED
    record.finished_at = timezone.now()
    record.duration_seconds = elapsed
    record.counts = dict(result.counts)
    record.notes = list(result.notes)
    with transaction.atomic():
        record.save(update_fields=["status", "finished_at", "duration_seconds", "counts", "notes"])
        unfinished = (
            PipelineStage.objects.filter(run_id=run_id)
            .exclude(status=PipelineStage.Status.SUCCEEDED)
            .exists()
        )
        finished_run = not unfinished and PipelineRun.objects.filter(pk=run_id).exclude(
            status=PipelineRun.Status.SUCCEEDED
        ).update(status=PipelineRun.Status.SUCCEEDED, finished_at=record.finished_at)
    if finished_run:
        PIPELINE_RUNS.labels(status="succeeded").inc()
    return record


def run_pipeline(
    *,
    now: datetime,
    trigger: str = PipelineRun.Trigger.COMMAND,
    run: PipelineRun | None = None,
    progress: Callable[[PipelineStage], None] | None = None,
) -> PipelineRun:
    """Run the pipeline in this process: resume an interrupted run, or start one as of ``now``.

    ``run`` resumes that run instead. ``progress`` is called before each stage (status pending or
    running) and after it (succeeded). A failing stage raises, after it is recorded. Raises
    :class:`Conflict` while another run is in progress.
    """
    if run is None:
        run = pipeline_run_open(now=now, trigger=trigger)
        if run is None:
            raise Conflict("another pipeline run is in progress; try again when it has finished")
    for name in STAGES:
        record = PipelineStage.objects.get(run=run, name=name)
        if progress is not None:
            progress(record)
        record = pipeline_stage_execute(run_id=run.pk, stage=name)
        if progress is not None:
            progress(record)
    run.refresh_from_db()
    return run


def pipeline_chain(run_id: int, *, queue: str | None = None) -> Signature:
    """The run's stages as a Celery chain of ``pipeline_stage`` tasks (on ``queue`` if given)."""
    from celery import chain

    from worker.tasks import pipeline_stage

    steps = [pipeline_stage.si(run_id, name) for name in STAGES]
    if queue:
        steps = [step.set(queue=queue) for step in steps]
    return chain(*steps)


def pipeline_schedule(
    *,
    now: datetime,
    trigger: str = PipelineRun.Trigger.SCHEDULE,
    queue: str | None = None,
) -> PipelineRun | None:
    """Open the next run (see :func:`pipeline_run_open`) and enqueue its chain; ``None`` while a
    run is in progress."""
    run = pipeline_run_open(now=now, trigger=trigger)
    if run is None:
        logger.info("a pipeline run is in progress; not starting another")
        return None
    pipeline_chain(run.pk, queue=queue).apply_async()
    return run
