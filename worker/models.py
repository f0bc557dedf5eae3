"""Pipeline runs and their stages: what ran, when, for how long, with what counts or error.

A run computes "as of" one moment (``as_of``, the data time); ``started_at``/``finished_at`` are
wall-clock times. Each stage row is the record that lets a re-started run skip what is done and
redo what was interrupted.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import models
from django.db.models import Q


class PipelineRun(models.Model):
    """One pass of the signal pipeline (ingest, score, detect, views, recommendations...)."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "Beat schedule"
        COMMAND = "command", "Management command"
        DEMO = "demo", "Embedded demo"
        MANUAL = "manual", "Manual"

    as_of = models.DateTimeField(db_index=True, help_text="The moment the run computes for")
    trigger = models.CharField(max_length=16, choices=Trigger.choices, default=Trigger.MANUAL)
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.RUNNING, db_index=True
    )
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(finished_at__isnull=True) | Q(finished_at__gte=models.F("started_at")),
                name="pipelinerun_finishes_after_start",
            ),
        ]

    def __str__(self) -> str:
        return f"Pipeline run {self.pk} as of {self.as_of:%Y-%m-%d %H:%M} ({self.status})"

    @property
    def label(self) -> str:
        """The name the run's outputs carry (``DetectedSignal.run``)."""
        return f"pipeline-run-{self.pk}"

    @property
    def duration(self) -> timedelta | None:
        return self.finished_at - self.started_at if self.finished_at else None


class PipelineStage(models.Model):
    """One stage of one run: its status, timings, what it counted, and its error if it failed."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    run = models.ForeignKey(PipelineRun, on_delete=models.CASCADE, related_name="stages")
    name = models.CharField(max_length=32, db_index=True)
    position = models.PositiveSmallIntegerField()
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_seconds = models.FloatField(null=True, blank=True)
    counts = models.JSONField(default=dict, blank=True)
    notes = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["run_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["run", "name"], name="pipelinestage_unique_name"),
            models.UniqueConstraint(
                fields=["run", "position"], name="pipelinestage_unique_position"
            ),
            models.CheckConstraint(
                condition=Q(duration_seconds__isnull=True) | Q(duration_seconds__gte=0),
                name="pipelinestage_duration_nonnegative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.run_id}/{self.position} {self.name} ({self.status})"
