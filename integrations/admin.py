"""Admin: webhook endpoints, the delivery log (status, attempts, last response, timing) and
idempotency keys (read-only)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from integrations.models import IdempotencyKey, WebhookDelivery, WebhookEndpoint


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    list_display = ("url", "owner", "events", "is_active", "created_at")
    list_filter = ("is_active",)
    search_fields = ("url", "owner__username", "description")
    list_select_related = ("owner",)
    raw_id_fields = ("owner",)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at",
        "event",
        "endpoint",
        "status",
        "attempts",
        "last_response_code",
        "last_duration_ms",
        "last_attempt_at",
        "next_attempt_at",
        "delivered_at",
    )
    list_filter = ("status", "event")
    search_fields = ("endpoint__url", "event_id")
    list_select_related = ("endpoint",)
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields]
    actions = ["retry_now"]

    @admin.action(description="Send the selected deliveries again now")
    def retry_now(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        from advisor.webhooks import webhook_delivery_retry

        count = sum(
            webhook_delivery_retry(delivery_id=pk) for pk in queryset.values_list("pk", flat=True)
        )
        self.message_user(request, f"{count} deliveries queued again.", messages.SUCCESS)


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "user", "method", "path", "key", "response_status", "expires_at")
    list_filter = ("method", "response_status")
    search_fields = ("key", "path", "user__username")
    list_select_related = ("user",)
    readonly_fields = [f.name for f in IdempotencyKey._meta.fields]
