"""Read-only admin of pipeline runs: status, per-stage timings, counts and errors."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from worker.models import PipelineRun, PipelineStage
from worker.pipeline import STAGES


class ReadOnly:
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class PipelineStageInline(ReadOnly, admin.TabularInline):
    model = PipelineStage
    extra = 0
    can_delete = False
    ordering = ("position",)
    fields = (
        "position",
        "name",
        "status",
        "attempts",
        "started_at",
        "finished_at",
        "duration_seconds",
        "counts",
        "notes",
        "error",
    )
    readonly_fields = fields


@admin.register(PipelineRun)
class PipelineRunAdmin(ReadOnly, admin.ModelAdmin):
    list_display = (
        "id",
        "as_of",
        "trigger",
        "status",
        "progress",
        "started_at",
        "finished_at",
        "seconds",
    )
    list_filter = ("status", "trigger")
    date_hierarchy = "started_at"
    readonly_fields = ("as_of", "trigger", "status", "started_at", "finished_at", "error")
    inlines = [PipelineStageInline]

    @admin.display(description="stages done")
    def progress(self, obj: PipelineRun) -> str:
        done = obj.stages.filter(status=PipelineStage.Status.SUCCEEDED).count()
        return f"{done}/{obj.stages.count() or len(STAGES)}"

    @admin.display(description="seconds")
    def seconds(self, obj: PipelineRun) -> str:
        duration = obj.duration
        return f"{duration.total_seconds():.1f}" if duration is not None else "-"


@admin.register(PipelineStage)
class PipelineStageAdmin(ReadOnly, admin.ModelAdmin):
    list_display = (
        "run",
        "position",
        "name",
        "status",
        "attempts",
        "started_at",
        "duration_seconds",
        "error",
    )
    list_filter = ("name", "status")
    list_select_related = ("run",)
    readonly_fields = PipelineStageInline.fields
