from django.contrib import admin

from backtests.models import BacktestResult, BacktestRun


class BacktestResultInline(admin.TabularInline):
    model = BacktestResult
    fields = ("key", "role", "fold", "label", "start", "end", "status", "elapsed_s", "error")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True


@admin.register(BacktestRun)
class BacktestRunAdmin(admin.ModelAdmin):
    list_display = ("pk", "name", "kind", "status", "market_name", "start", "end", "created_at")
    list_filter = ("kind", "status")
    search_fields = ("name",)
    readonly_fields = (
        "kind",
        "status",
        "strategies",
        "market",
        "market_name",
        "start",
        "end",
        "account",
        "walk_forward",
        "seed",
        "requested_by",
        "summary",
        "error",
        "created_at",
        "started_at",
        "finished_at",
    )
    inlines = [BacktestResultInline]

    def has_add_permission(self, request: object) -> bool:
        return False  # runs are started from the workspace or the command line


@admin.register(BacktestResult)
class BacktestResultAdmin(admin.ModelAdmin):
    list_display = ("pk", "run", "key", "role", "status", "elapsed_s")
    list_filter = ("role", "status")
    readonly_fields = (
        "run",
        "key",
        "role",
        "fold",
        "label",
        "strategy",
        "start",
        "end",
        "status",
        "metrics",
        "details",
        "error",
        "elapsed_s",
        "created_at",
        "finished_at",
    )
    exclude = ("series",)

    def has_add_permission(self, request: object) -> bool:
        return False
