"""Backtest runs and their results (the product's record of what was replayed and what came out).

A run is one study: several strategies over one window (``compare``), or walk-forward validation
of one strategy (``walk_forward``: candidates on each training window, the chosen one on the test
window after it). Each replay is a :class:`BacktestResult`; the replays themselves happen in
databases of their own (``backtests.isolation``), never in this one.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class RunKind(models.TextChoices):
    COMPARE = "compare", "Strategies compared over one window"
    WALK_FORWARD = "walk_forward", "Walk-forward validation"


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class ResultRole(models.TextChoices):
    FULL = "full", "Whole window"
    TRAIN = "train", "Training window"
    TEST = "test", "Test window (out of sample)"


class ResultStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class BacktestRun(models.Model):
    """One study: what to replay, on which market, and its outcome."""

    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=16, choices=RunKind.choices, default=RunKind.COMPARE)
    status = models.CharField(
        max_length=8, choices=RunStatus.choices, default=RunStatus.QUEUED, db_index=True
    )
    strategies = models.JSONField(help_text="Strategy configurations, in report order")
    market = models.JSONField(
        help_text="Where the prices come from (backtests.market.MarketSource)"
    )
    market_name = models.CharField(max_length=120, blank=True)
    start = models.DateField()
    end = models.DateField()
    account = models.JSONField(
        help_text="The account replayed (backtests.core.config.AccountSetup)"
    )
    walk_forward = models.JSONField(
        default=dict, blank=True, help_text="Training and test years, parameter grid, objective"
    )
    seed = models.PositiveIntegerField(default=0)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="backtest_runs",
    )
    summary = models.JSONField(default=dict, blank=True, help_text="The study's figures")
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(end__gt=models.F("start")), name="backtestrun_end_after_start"
            ),
        ]

    def __str__(self) -> str:
        return f"backtest {self.pk} {self.name} ({self.status})"


class BacktestResult(models.Model):
    """One replay of a run: a strategy (or a candidate) over one window."""

    run = models.ForeignKey(BacktestRun, on_delete=models.CASCADE, related_name="results")
    key = models.CharField(max_length=160, help_text="Unique within the run")
    role = models.CharField(max_length=8, choices=ResultRole.choices, default=ResultRole.FULL)
    fold = models.PositiveSmallIntegerField(null=True, blank=True)
    label = models.CharField(max_length=200, help_text="Strategy, or candidate parameters")
    strategy = models.JSONField(help_text="The configuration replayed")
    start = models.DateField()
    end = models.DateField()
    status = models.CharField(
        max_length=8, choices=ResultStatus.choices, default=ResultStatus.PENDING
    )
    metrics = models.JSONField(default=dict, blank=True)
    series = models.JSONField(
        default=dict, blank=True, help_text="Daily value, after tax, drawdown"
    )
    details = models.JSONField(
        default=dict, blank=True, help_text="Allocation, years, regimes, harvests, decisions"
    )
    error = models.TextField(blank=True)
    elapsed_s = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run_id", "id"]
        constraints = [
            models.UniqueConstraint(fields=["run", "key"], name="backtestresult_unique_key"),
            models.CheckConstraint(
                condition=Q(end__gt=models.F("start")), name="backtestresult_end_after_start"
            ),
        ]
        indexes = [
            models.Index(fields=["run", "role", "status"], name="backtestresult_run_role_idx")
        ]

    def __str__(self) -> str:
        return f"{self.run_id}/{self.key} ({self.status})"
