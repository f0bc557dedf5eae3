"""URL map: portal, workspace, auth, admin, REST API, health and metrics."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

import advisor.converters  # noqa: F401  (registers <id:...>)
from advisor.api.login_limits import RateLimitedLoginView
from advisor.views import health, onboarding, pages

urlpatterns = [
    path("", pages.home, name="home"),
    path("portal/", pages.client_dashboard, name="client-dashboard"),
    path(
        "portal/households/<id:household_id>/",
        pages.household_dashboard,
        name="household-dashboard",
    ),
    path(
        "portal/households/<id:household_id>/live/",
        pages.household_live,
        name="household-live",
    ),
    path(
        "portal/households/<id:household_id>/form-8949/<int:year>.csv",
        pages.form_8949_csv,
        name="form-8949-csv",
    ),
    path("signup/", onboarding.sign_up, name="signup"),
    path("onboarding/", onboarding.onboarding, name="onboarding"),
    path("onboarding/preview/", onboarding.risk_preview, name="onboarding-preview"),
    path("onboarding/<slug:step>/", onboarding.onboarding_step, name="onboarding-step"),
    path(
        "accounts/login/",
        RateLimitedLoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "accounts/password/change/", auth_views.PasswordChangeView.as_view(), name="password_change"
    ),
    path(
        "accounts/password/change/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path("accounts/password/reset/", auth_views.PasswordResetView.as_view(), name="password_reset"),
    path(
        "accounts/password/reset/done/",
        auth_views.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "accounts/reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "accounts/reset/done/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path("workspace/backtests/", include("backtests.urls")),
    path("workspace/", include("advisor.workspace_urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include("advisor.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("healthz", health.healthz, name="healthz"),
    path("metrics", health.metrics, name="prometheus-django-metrics"),
]
