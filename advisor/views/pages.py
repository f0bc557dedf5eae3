"""Server-rendered pages of the client portal. Views parse, call a selector, render.

Every household page goes through :func:`advisor.selectors.household_for_user`, so a client sees
only their household, an advisor only their clients' households, staff every one, and anyone
else a 404 that does not reveal whether the household exists.
"""

from __future__ import annotations

import re
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from advisor import charts
from advisor.models import Role
from advisor.portal_selectors import Dashboard as DashboardData
from advisor.portal_selectors import (
    current_recommendation,
    household_allocation,
    household_live_summary,
    onboarding_in_progress,
)
from advisor.portal_selectors import household_dashboard as dashboard_data
from advisor.selectors import client_for_user, household_for_user
from portfolios.clock import firm_today
from portfolios.core.errors import NotFound
from portfolios.models import Household


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Send each role to its start page (a client still onboarding to the wizard)."""
    role = getattr(request.user, "role", None)
    if role == Role.STAFF:
        return redirect("admin:index")
    if role == Role.ADVISOR:
        return redirect("workspace")
    client = client_for_user(user=request.user)
    if client is not None and onboarding_in_progress(client):
        return redirect("onboarding")
    return redirect("client-dashboard")


@login_required
@require_GET
def client_dashboard(request: HttpRequest) -> HttpResponse:
    """The logged-in client's own household."""
    role = getattr(request.user, "role", None)
    if role == Role.ADVISOR:
        return redirect("workspace")
    client = client_for_user(user=request.user)
    if client is None:
        raise Http404("no client profile for this login")
    if onboarding_in_progress(client):
        return redirect("onboarding")
    return _render_dashboard(request, client.household)


def _visible_household(request: HttpRequest, household_id: int) -> Household:
    try:
        return household_for_user(user=request.user, household_id=household_id)
    except NotFound as exc:
        raise Http404(str(exc)) from exc


@login_required
@require_GET
def household_dashboard(request: HttpRequest, household_id: int) -> HttpResponse:
    """A household's dashboard, for its members and its advisor only (404 for anyone else)."""
    return _render_dashboard(request, _visible_household(request, household_id))


@login_required
@require_GET
def household_live(request: HttpRequest, household_id: int) -> HttpResponse:
    """The parts the live page refreshes after a trade: value, positions, recent activity, and the
    allocation and drift tables (a fill can add or drop a fund, or bring cash in); the page
    redraws its charts from them."""
    household = _visible_household(request, household_id)
    summary = household_live_summary(household=household, today=firm_today())
    allocation = household_allocation(
        accounts=summary.accounts,
        recommendation=current_recommendation(household_id=household.pk),
    )
    response = render(
        request,
        "portal/_live.html",
        {"live": summary, "household": household, "allocation": allocation},
    )
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_GET
def form_8949_csv(request: HttpRequest, household_id: int, year: int) -> HttpResponse:
    """The household's Form 8949 rows for ``year`` as a CSV download."""
    from portfolios.tax_reports import FIRST_TAX_YEAR, tax_report, tax_report_csv

    household = _visible_household(request, household_id)
    if not FIRST_TAX_YEAR <= year <= firm_today().year:
        raise Http404(f"no tax year {year}")
    report = tax_report(household_id=household.pk, year=year)
    slug = re.sub(r"[^a-z0-9]+", "-", household.name.lower()).strip("-") or "household"
    response = HttpResponse(tax_report_csv(report), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="form-8949-{year}-{slug}.csv"'
    response["Cache-Control"] = "private, no-store"
    return response


def _render_dashboard(request: HttpRequest, household: Household) -> HttpResponse:
    today = firm_today()
    data = dashboard_data(household=household, today=today)
    rec = data.recommendation
    built = {
        "performance": charts.performance_chart(data.performance),
        "allocation": charts.allocation_chart(data.allocation),
        "drift": charts.drift_chart(data.allocation),
        "frontier": charts.frontier_chart(
            data.frontier, volatility=rec.volatility, expected_return=rec.expected_return
        )
        if data.frontier is not None and rec is not None
        else None,
        "projection": charts.projection_chart(data.outlook) if data.outlook else None,
    }
    threshold = float(data.firm.drift_threshold)
    # A client can only ever see their own household; advisors and staff are not members.
    viewer_is_member = getattr(request.user, "role", None) == Role.CLIENT
    return render(
        request,
        "portal/dashboard.html",
        {
            "d": data,
            "household": household,
            "charts": built,
            "has_charts": any(built.values()),
            "summary": _summary(data, threshold),
            "drift_due": data.allocation.has_target and data.allocation.drift > threshold,
            "viewer_is_member": viewer_is_member,
            "tax_year": today.year,
        },
    )


def _pct(value: float | None) -> float | None:
    return None if value is None else value * 100


def _summary(data: DashboardData, drift_threshold: float) -> dict[str, Any]:
    """The dashboard's headline figures in display units (percentages as numbers of percent)."""
    perf, rec, outlook = data.performance, data.recommendation, data.outlook
    summary: dict[str, Any] = {
        "twr": _pct(perf.total_return),
        "benchmark": _pct(perf.benchmark_total_return),
        "annualised": _pct(perf.annualised_return),
        "drift_threshold": drift_threshold * 100,
        "rec_return": _pct(rec.expected_return) if rec else None,
        "rec_volatility": _pct(rec.volatility) if rec else None,
    }
    if outlook is not None:
        projection = outlook.projection
        summary.update(
            probability=projection.probability * 100,
            p10=projection.final_wealth[10],
            p50=projection.final_wealth[50],
            p90=projection.final_wealth[90],
            goal_year=outlook.start_year + outlook.horizon_years,
            paths=projection.n_paths,
        )
    return summary
