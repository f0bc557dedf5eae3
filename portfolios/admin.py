"""Admin for the universe and the ledger. Ledger rows are read-only: they change through services."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from portfolios.models import (
    Account,
    AccountValuation,
    Asset,
    AuditEvent,
    ExclusionTag,
    FirmSettings,
    HarvestBlock,
    Household,
    Position,
    PriceBar,
    ProposalTrade,
    RealizedLot,
    RebalanceProposal,
    Recommendation,
    TaxLot,
    Transaction,
    WashSale,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Visible for audit, never edited by hand: the ledger changes only through services."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ExclusionTagFilter(admin.SimpleListFilter):
    title = "exclusion tag"
    parameter_name = "tag"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return list(ExclusionTag.choices)

    def queryset(self, request: HttpRequest, queryset: Any) -> Any:
        value = self.value()
        if not value:
            return queryset
        ids = [
            pk for pk, tags in queryset.values_list("pk", "exclusion_tags") if value in (tags or [])
        ]
        return queryset.filter(pk__in=ids)


@admin.register(Asset)
class AssetAdmin(admin.ModelAdmin):
    list_display = (
        "symbol",
        "name",
        "asset_class",
        "sector",
        "esg_score",
        "identity_group",
        "replacement_group",
        "is_active",
        "is_demo",
    )
    list_filter = (
        "asset_class",
        "sector",
        ExclusionTagFilter,
        "is_active",
        "is_demo",
        "fractionable",
    )
    search_fields = ("symbol", "name", "identity_group", "replacement_group")
    list_editable = ("esg_score", "identity_group", "replacement_group")
    ordering = ("symbol",)


@admin.register(PriceBar)
class PriceBarAdmin(ReadOnlyAdmin):
    list_display = ("asset", "date", "open", "high", "low", "close", "volume", "source")
    list_filter = ("source", "asset__asset_class")
    search_fields = ("asset__symbol",)
    date_hierarchy = "date"
    list_select_related = ("asset",)


class AccountInline(admin.TabularInline):
    model = Account
    extra = 0
    fields = ("name", "account_type", "lot_method", "cash", "is_active")
    readonly_fields = ("cash",)


@admin.register(Household)
class HouseholdAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "filing_status",
        "short_term_rate",
        "long_term_rate",
        "is_demo",
        "created_at",
    )
    list_filter = ("filing_status", "is_demo")
    search_fields = ("name", "clients__last_name", "clients__email")
    inlines = [AccountInline]


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    list_display = ("name", "household", "account_type", "lot_method", "cash", "is_active")
    list_filter = ("account_type", "lot_method", "is_active")
    search_fields = ("name", "household__name")
    readonly_fields = ("cash",)
    list_select_related = ("household",)


@admin.register(Position)
class PositionAdmin(ReadOnlyAdmin):
    list_display = ("account", "asset", "quantity", "updated_at")
    search_fields = ("asset__symbol", "account__name", "account__household__name")
    list_filter = ("account__account_type", "asset__asset_class")
    list_select_related = ("account", "asset")


@admin.register(TaxLot)
class TaxLotAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "account",
        "asset",
        "quantity",
        "original_quantity",
        "cost_basis",
        "acquired_on",
        "holding_period_start",
        "wash_sale_adjustment",
        "closed_on",
    )
    list_filter = ("account__account_type", "acquired_on")
    search_fields = ("asset__symbol", "account__name", "account__household__name")
    list_select_related = ("account", "asset")


@admin.register(Transaction)
class TransactionAdmin(ReadOnlyAdmin):
    list_display = (
        "trade_date",
        "account",
        "kind",
        "asset",
        "quantity",
        "price",
        "fees",
        "amount",
        "external_id",
    )
    list_filter = ("kind", "account__account_type")
    search_fields = ("asset__symbol", "account__name", "external_id", "description")
    date_hierarchy = "trade_date"
    list_select_related = ("account", "asset")


@admin.register(RealizedLot)
class RealizedLotAdmin(ReadOnlyAdmin):
    list_display = (
        "sold_on",
        "account",
        "asset",
        "quantity",
        "acquired_on",
        "proceeds",
        "cost_basis",
        "adjustment_code",
        "adjustment_amount",
        "gain",
        "term",
    )
    list_filter = ("term", "adjustment_code")
    search_fields = ("asset__symbol", "account__household__name")
    date_hierarchy = "sold_on"
    list_select_related = ("account", "asset")


@admin.register(AccountValuation)
class AccountValuationAdmin(ReadOnlyAdmin):
    list_display = ("date", "account", "market_value", "cash", "net_flow")
    search_fields = ("account__name", "account__household__name")
    date_hierarchy = "date"


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at",
        "actor",
        "action",
        "object_type",
        "object_id",
        "from_state",
        "to_state",
    )
    list_filter = ("action", "object_type")
    search_fields = ("object_id", "reason", "actor__username")
    date_hierarchy = "created_at"


@admin.register(FirmSettings)
class FirmSettingsAdmin(admin.ModelAdmin):
    """The firm's portfolio policy, rebalancing thresholds and automatic-approval classes."""

    fieldsets = (
        (
            "Portfolio construction",
            {
                "fields": (
                    "max_fund_weight",
                    "max_stock_weight",
                    "recommend_single_stocks",
                    "sleeve_tolerance",
                    "min_position_weight",
                    "risk_free_rate",
                    "estimation_years",
                    "view_max_tilt",
                    "benchmark_symbol",
                )
            },
        ),
        (
            "Rebalancing",
            {
                "fields": (
                    "drift_threshold",
                    "band_absolute",
                    "band_relative",
                    "min_trade_notional",
                    "cash_buffer",
                    "proposal_price_tolerance",
                    "commission_per_trade",
                )
            },
        ),
        ("Loss harvesting", {"fields": ("harvest_min_benefit", "harvest_min_loss_pct")}),
        ("Automatic approval", {"fields": ("auto_approve_cash_flow_max", "auto_approve_harvests")}),
    )
    list_display = (
        "__str__",
        "drift_threshold",
        "auto_approve_cash_flow_max",
        "auto_approve_harvests",
        "updated_at",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not FirmSettings.objects.exists()

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Recommendation)
class RecommendationAdmin(ReadOnlyAdmin):
    list_display = (
        "household",
        "risk_score",
        "method",
        "expected_return",
        "volatility",
        "esg_score",
        "is_current",
        "created_at",
    )
    list_filter = ("is_current", "method")
    search_fields = ("household__name",)
    date_hierarchy = "created_at"


class ProposalTradeInline(admin.TabularInline):
    model = ProposalTrade
    extra = 0
    can_delete = False
    fields = (
        "sequence",
        "side",
        "asset",
        "quantity",
        "estimated_price",
        "notional",
        "estimated_cost",
        "estimated_gain",
        "purpose",
    )
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(RebalanceProposal)
class RebalanceProposalAdmin(ReadOnlyAdmin):
    """Read-only: proposals move through the advisor workspace, which audits every transition."""

    list_display = (
        "pk",
        "account",
        "reason",
        "status",
        "drift_before",
        "estimated_tax",
        "estimated_tax_saving",
        "estimated_costs",
        "decided_by",
        "created_at",
    )
    list_filter = ("status", "reason", "auto_approved")
    search_fields = ("account__name", "account__household__name")
    date_hierarchy = "created_at"
    inlines = [ProposalTradeInline]


@admin.register(WashSale)
class WashSaleAdmin(ReadOnlyAdmin):
    list_display = (
        "realized_lot",
        "replacement_symbol",
        "replacement_account",
        "quantity",
        "disallowed_loss",
        "permanent",
        "pending",
    )
    list_filter = ("permanent", "pending")
    search_fields = ("replacement_symbol", "replacement_order")


@admin.register(HarvestBlock)
class HarvestBlockAdmin(ReadOnlyAdmin):
    list_display = ("household", "symbol", "identity_key", "sold_on", "blocked_until")
    search_fields = ("household__name", "symbol")
    date_hierarchy = "blocked_until"
