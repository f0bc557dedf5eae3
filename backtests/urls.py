"""The Backtests page of the advisor workspace (included under ``/workspace/backtests/``)."""

from django.urls import path

from backtests import views

urlpatterns = [
    path("", views.backtest_list, name="backtest-list"),
    path("<int:run_id>/", views.backtest_detail, name="backtest-detail"),
    path("<int:run_id>/report.html", views.backtest_report, name="backtest-report"),
    path("<int:run_id>/report.json", views.backtest_json, name="backtest-json"),
]
