"""Admin for news, scores, order books, signals, hit rates and views (all but news read-only:
the pipeline writes them)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from signals.models import (
    DetectedSignal,
    HitRateEstimate,
    NewsItem,
    OrderBookSnapshot,
    SentimentScore,
    ViewSnapshot,
)


@admin.register(NewsItem)
class NewsItemAdmin(admin.ModelAdmin):
    list_display = ("published_at", "source", "headline", "ingested_at", "is_demo")
    list_filter = ("source", "is_demo")
    search_fields = ("headline", "summary", "symbols")
    date_hierarchy = "published_at"
    readonly_fields = ("content_hash", "ingested_at")


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows the pipeline writes: staff look, nobody edits."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(SentimentScore)
class SentimentScoreAdmin(ReadOnlyAdmin):
    list_display = ("news", "backend", "label", "score", "scored_at")
    list_filter = ("backend", "label")
    search_fields = ("news__headline",)
    list_select_related = ("news",)


@admin.register(DetectedSignal)
class DetectedSignalAdmin(ReadOnlyAdmin):
    list_display = ("as_of", "asset", "kind", "value", "confidence", "window_end", "run")
    list_filter = ("kind", "asset__asset_class")
    search_fields = ("asset__symbol", "run")
    date_hierarchy = "as_of"
    list_select_related = ("asset",)


@admin.register(OrderBookSnapshot)
class OrderBookSnapshotAdmin(ReadOnlyAdmin):
    list_display = (
        "captured_at",
        "asset",
        "venue",
        "bid_price",
        "bid_size",
        "ask_price",
        "ask_size",
        "source",
    )
    list_filter = ("venue", "source")
    search_fields = ("asset__symbol",)
    date_hierarchy = "captured_at"
    list_select_related = ("asset",)


@admin.register(HitRateEstimate)
class HitRateEstimateAdmin(ReadOnlyAdmin):
    list_display = ("as_of", "kind", "hits", "trials", "shrunk", "view_confidence", "horizon")
    list_filter = ("kind",)
    date_hierarchy = "as_of"


@admin.register(ViewSnapshot)
class ViewSnapshotAdmin(ReadOnlyAdmin):
    list_display = ("as_of", "view_count", "created_at")
    date_hierarchy = "as_of"

    @admin.display(description="views")
    def view_count(self, obj: ViewSnapshot) -> int:
        return len(obj.views or [])
