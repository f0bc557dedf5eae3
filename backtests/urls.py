"""The Backtests page of the advisor workspace (included under ``/workspace/backtests/``)."""

from django.urls import path

import advisor.converters  # noqa: F401  (registers <id:...>)
from backtests import views

urlpatterns = [
    path("", views.backtest_list, name="backtest-list"),
    path("<id:run_id>/", views.backtest_detail, name="backtest-detail"),
    path("<id:run_id>/report.html", views.backtest_report, name="backtest-report"),
    path("<id:run_id>/report.json", views.backtest_json, name="backtest-json"),
]
