"""Admin for the firm's risk limits (edited with a change history) and read-only execution records."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.http import HttpRequest

from portfolios.admin import ReadOnlyAdmin
from portfolios.core.errors import DomainError
from trading.models import ExecutionPolicy, Fill, Order, PreTradeCheck, RiskLimit, RiskLimitChange
from trading.services import LIMIT_FIELDS, risk_limit_update


class RiskLimitChangeInline(admin.TabularInline):
    model = RiskLimitChange
    extra = 0
    can_delete = False
    fields = ("version", "changed_at", "changed_by", "changes", "reason")
    readonly_fields = fields
    ordering = ("-version",)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(RiskLimit)
class RiskLimitAdmin(admin.ModelAdmin):
    """Every save goes through ``risk_limit_update``: the version moves on and the change is kept."""

    list_display = (
        "name",
        "version",
        "max_position_weight",
        "max_order_notional",
        "max_adv_fraction",
        "price_collar_pct",
        "daily_loss_limit",
        "allow_outside_hours",
        "updated_by",
        "updated_at",
    )
    readonly_fields = ("version", "updated_by", "updated_at")
    inlines = [RiskLimitChangeInline]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: RiskLimit, form: Any, change: bool) -> None:
        if not change:
            obj.updated_by = request.user  # type: ignore[assignment]
            super().save_model(request, obj, form, change)
            return
        changes = {
            name: form.cleaned_data[name] for name in LIMIT_FIELDS if name in form.changed_data
        }
        try:
            risk_limit_update(
                limit_id=obj.pk,
                changes=changes,
                actor_id=request.user.pk,
                reason="edited in the admin site",
            )
        except DomainError as exc:
            messages.error(request, exc.message)


@admin.register(RiskLimitChange)
class RiskLimitChangeAdmin(ReadOnlyAdmin):
    list_display = ("limit", "version", "changed_at", "changed_by", "changes", "reason")
    list_filter = ("limit",)
    date_hierarchy = "changed_at"


class PreTradeCheckInline(admin.TabularInline):
    model = PreTradeCheck
    extra = 0
    can_delete = False
    fields = (
        "round",
        "check_name",
        "outcome",
        "message",
        "limit_value",
        "observed_value",
        "limits_version",
    )
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class FillInline(admin.TabularInline):
    model = Fill
    extra = 0
    can_delete = False
    fields = ("execution_id", "quantity", "price", "fee", "executed_at", "transaction")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Order)
class OrderAdmin(ReadOnlyAdmin):
    list_display = (
        "client_order_id",
        "account",
        "asset",
        "side",
        "quantity",
        "filled_quantity",
        "average_fill_price",
        "status",
        "algo",
        "broker",
        "submitted_at",
    )
    list_filter = ("status", "side", "algo", "broker")
    search_fields = (
        "client_order_id",
        "broker_order_id",
        "asset__symbol",
        "account__household__name",
    )
    date_hierarchy = "created_at"
    list_select_related = ("account", "asset")
    inlines = [PreTradeCheckInline, FillInline]


@admin.register(Fill)
class FillAdmin(ReadOnlyAdmin):
    list_display = ("execution_id", "order", "quantity", "price", "fee", "executed_at")
    search_fields = ("execution_id", "order__client_order_id")
    date_hierarchy = "executed_at"


@admin.register(PreTradeCheck)
class PreTradeCheckAdmin(ReadOnlyAdmin):
    list_display = ("order", "check_name", "outcome", "limits_version", "checked_at", "message")
    list_filter = ("outcome", "check_name")
    search_fields = ("order__client_order_id", "message")


@admin.register(ExecutionPolicy)
class ExecutionPolicyAdmin(admin.ModelAdmin):
    list_display = (
        "__str__",
        "large_order_adv_fraction",
        "window_minutes",
        "slices",
        "buy_limit_allowance",
        "updated_at",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not ExecutionPolicy.objects.exists()

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
