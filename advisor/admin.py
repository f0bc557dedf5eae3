"""Admin for users, clients and their profiles."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from advisor.models import Client, ESGPreference, RiskProfile, User


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = (
        "username",
        "email",
        "first_name",
        "last_name",
        "role",
        "is_staff",
        "is_active",
        "last_login",
    )
    list_filter = ("role", "is_staff", "is_active")
    fieldsets = (*DjangoUserAdmin.fieldsets, ("Role", {"fields": ("role",)}))  # type: ignore[misc]
    add_fieldsets = (*DjangoUserAdmin.add_fieldsets, ("Role", {"fields": ("role",)}))


class RiskProfileInline(admin.StackedInline):
    model = RiskProfile
    extra = 0
    readonly_fields = (
        "willingness_score",
        "capacity_score",
        "score",
        "contradictions",
        "explanation",
        "updated_at",
    )


class ESGPreferenceInline(admin.StackedInline):
    model = ESGPreference
    extra = 0


@admin.register(Client)
class ClientAdmin(admin.ModelAdmin):
    list_display = ("last_name", "first_name", "household", "advisor", "email", "onboarded_at")
    list_filter = ("advisor", "household__is_demo")
    search_fields = ("first_name", "last_name", "email", "household__name", "user__username")
    list_select_related = ("household", "advisor")
    inlines = [RiskProfileInline, ESGPreferenceInline]


@admin.register(RiskProfile)
class RiskProfileAdmin(admin.ModelAdmin):
    list_display = (
        "client",
        "score",
        "willingness_score",
        "capacity_score",
        "horizon_years",
        "updated_at",
    )
    list_filter = ("score",)
    search_fields = ("client__last_name", "client__first_name")
    readonly_fields = ("updated_at",)


@admin.register(ESGPreference)
class ESGPreferenceAdmin(admin.ModelAdmin):
    list_display = ("client", "min_esg_score", "excluded_categories", "updated_at")
    search_fields = ("client__last_name", "client__first_name")
