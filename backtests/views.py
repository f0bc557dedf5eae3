"""The workspace's Backtests page: list runs, start one, follow it, open its report."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render

from backtests import selectors
from backtests.core.config import AccountSetup, strategy_named
from backtests.core.walkforward import WalkForwardSpec
from backtests.forms import BacktestForm
from backtests.market import MarketSource
from backtests.models import BacktestRun, RunStatus
from backtests.report import report_context, report_html, report_json
from backtests.services import backtest_run_create, backtest_run_start
from portfolios.core.errors import DomainError, NotFound
from portfolios.core.errors import PermissionDenied as DomainPermissionDenied


def _run(request: HttpRequest, run_id: int) -> BacktestRun:
    try:
        return selectors.run_for_user(user=request.user, run_id=run_id)
    except DomainPermissionDenied as exc:
        raise PermissionDenied(exc.message) from exc
    except NotFound as exc:
        raise Http404(exc.message) from exc


@login_required
def backtest_list(request: HttpRequest) -> HttpResponse:
    """Runs, newest first, and the form that starts one."""
    try:
        runs = list(selectors.runs_for_user(user=request.user)[:100])
    except DomainPermissionDenied as exc:
        raise PermissionDenied(exc.message) from exc
    form = BacktestForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data: dict[str, Any] = form.cleaned_data
        try:
            run = backtest_run_create(
                name=data["name"],
                strategies=[strategy_named(n) for n in data["strategies"]],
                source=MarketSource(kind="database", demo_only=data["market"] == "demo"),
                start=data["start"],
                end=data["end"],
                account=AccountSetup(
                    account_value=data["account_value"],
                    tax_rates=(data["short_term_rate"], data["long_term_rate"]),
                ),
                walk_forward=WalkForwardSpec(
                    train_years=data["train_years"], test_years=data["test_years"]
                )
                if data["walk_forward"]
                else None,
                requested_by=request.user,
            )
            backtest_run_start(run_id=run.pk)
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"Backtest {run.pk} started.")
            return redirect("backtest-detail", run_id=run.pk)
    rows = [{"run": run, "progress": selectors.run_progress(run)} for run in runs]
    return render(request, "backtests/list.html", {"rows": rows, "form": form})


@login_required
def backtest_detail(request: HttpRequest, run_id: int) -> HttpResponse:
    """A run's progress and, as replays finish, its report inside the workspace."""
    run = _run(request, run_id)
    context = report_context(run, standalone=False)
    context["progress"] = selectors.run_progress(run)
    context["running"] = run.status in (RunStatus.QUEUED, RunStatus.RUNNING)
    return render(request, "backtests/detail.html", context)


@login_required
def backtest_report(request: HttpRequest, run_id: int) -> HttpResponse:
    """The standalone report file (plotly.js embedded), to keep or send."""
    run = _run(request, run_id)
    response = HttpResponse(report_html(run, standalone=True), content_type="text/html")
    response["Content-Disposition"] = f'attachment; filename="backtest-{run.pk}.html"'
    return response


@login_required
def backtest_json(request: HttpRequest, run_id: int) -> JsonResponse:
    """The run's figures as JSON."""
    return JsonResponse(report_json(_run(request, run_id)))
