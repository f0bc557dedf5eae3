"""The advisor workspace: the client book, proposal review, approval (single and bulk)."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.safestring import SafeString
from django.views.decorators.http import require_POST

from advisor import workspace_selectors as ws
from advisor.api.filters import whole_number
from advisor.charts import safe_json
from advisor.models import Role
from advisor.services.proposals import proposal_approve, proposal_reject, proposal_reprice
from portfolios.core.errors import DomainError, InvalidInput
from portfolios.core.money import to_decimal


def _require_advisor(request: HttpRequest) -> None:
    if getattr(request.user, "role", None) not in (Role.ADVISOR, Role.STAFF):
        raise PermissionDenied("the workspace is for advisors")


@login_required
def client_book(request: HttpRequest) -> HttpResponse:
    _require_advisor(request)
    return render(
        request,
        "workspace/book.html",
        {
            "rows": ws.client_book(user=request.user),
            "pending": ws.pending_proposals(user=request.user),
        },
    )


def _weights_chart(proposal: Any) -> SafeString:
    import plotly.graph_objects as go

    symbols = sorted(
        set(proposal.weights_before) | set(proposal.weights_after) | set(proposal.target_weights),
        key=lambda s: -max(proposal.weights_before.get(s, 0), proposal.weights_after.get(s, 0)),
    )
    figure = go.Figure(
        [
            go.Bar(
                name="Before",
                x=symbols,
                y=[proposal.weights_before.get(s, 0) for s in symbols],
                marker_color="#9fb3c8",
            ),
            go.Bar(
                name="After",
                x=symbols,
                y=[proposal.weights_after.get(s, 0) for s in symbols],
                marker_color="#1f5f8b",
            ),
            go.Scatter(
                name="Target",
                x=symbols,
                y=[proposal.target_weights.get(s, 0) for s in symbols],
                mode="markers",
                marker={
                    "symbol": "line-ew-open",
                    "size": 22,
                    "color": "#b3261e",
                    "line": {"width": 3},
                },
            ),
        ]
    )
    figure.update_layout(
        barmode="group",
        yaxis_tickformat=".0%",
        margin={"l": 40, "r": 10, "t": 10, "b": 40},
        height=320,
        legend={"orientation": "h", "y": -0.2},
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
    )
    return safe_json(figure)


@login_required
def proposal_detail(request: HttpRequest, proposal_id: int) -> HttpResponse:
    _require_advisor(request)
    proposal = ws.proposal_for_user(user=request.user, proposal_id=proposal_id)
    if proposal is None:
        raise Http404("proposal not found")
    trades = list(proposal.trades.select_related("asset").order_by("sequence"))
    context = {
        "proposal": proposal,
        "trades": trades,
        "checks_preview": ws.checks_preview(proposal) if proposal.status == "pending" else [],
        "orders": [(o, _money_figures(o.cost_analysis)) for o in ws.proposal_orders(proposal)],
        "shortfall": _money_figures((proposal.execution_summary or {}).get("shortfall")),
        "fees": _amount((proposal.execution_summary or {}).get("fees")),
        "order_checks": ws.order_checks(proposal),
        "history": ws.proposal_history(proposal),
        "chart": _weights_chart(proposal),
        "weights": sorted(
            (
                (
                    s,
                    proposal.weights_before.get(s, 0),
                    proposal.weights_after.get(s, 0),
                    proposal.target_weights.get(s, 0),
                )
                for s in set(proposal.weights_before)
                | set(proposal.weights_after)
                | set(proposal.target_weights)
            ),
            key=lambda row: -row[2],
        ),
        "total_notional": sum((t.notional for t in trades), 0),
        "risk_rows": _risk_rows(proposal),
    }
    return render(request, "workspace/proposal.html", context)


#: The amounts of a stored implementation-shortfall report (JSON keeps them as strings).
_SHORTFALL_AMOUNTS = (
    "execution_cost",
    "fees",
    "opportunity_cost",
    "total_cost",
    "arrival_notional",
)


def _amount(raw: Any) -> Decimal | None:
    """A stored amount as a ``Decimal`` (None when absent or unreadable)."""
    if raw is None or isinstance(raw, bool):
        return None
    try:
        return to_decimal(str(raw))
    except InvalidInput:
        return None


def _money_figures(report: Any) -> dict[str, Any]:
    """A stored shortfall report with its amounts as ``Decimal``, so that the page prints them as
    it prints all money (−$1.23, never $-1.23); empty when there is no report."""
    if not isinstance(report, Mapping) or not report:
        return {}
    return {**report, **{key: _amount(report.get(key)) for key in _SHORTFALL_AMOUNTS}}


def _risk_rows(proposal: Any) -> list[tuple[str, str, str]]:
    """The risk table's rows, every measure a percentage of the account's value."""
    rows = []
    for label, key, places in (
        ("Volatility (annual)", "volatility", 1),
        ("1-day VaR 95%", "var_95", 2),
        ("1-day expected shortfall 95%", "es_95", 2),
    ):
        before, after = (proposal.risk_before or {}).get(key), (proposal.risk_after or {}).get(key)
        rows.append(
            (
                label,
                "—" if before is None else f"{float(before):.{places}%}",
                "—" if after is None else f"{float(after):.{places}%}",
            )
        )
    return rows


@login_required
@require_POST
def proposal_decide(request: HttpRequest, proposal_id: int) -> HttpResponse:
    _require_advisor(request)
    decision = request.POST.get("decision")
    comment = request.POST.get("comment", "")
    try:
        if decision == "approve":
            proposal_approve(proposal_id=proposal_id, actor=request.user, comment=comment)
            messages.success(
                request, f"Proposal {proposal_id} approved; its orders are on their way."
            )
        elif decision == "reject":
            proposal_reject(proposal_id=proposal_id, actor=request.user, comment=comment)
            messages.success(request, f"Proposal {proposal_id} rejected.")
        elif decision == "reprice":
            fresh = proposal_reprice(proposal_id=proposal_id, actor=request.user)
            if fresh is None:
                messages.info(request, "At today's prices the account needs no trades.")
            else:
                messages.success(request, f"Re-priced as proposal {fresh.pk}.")
                return redirect("workspace-proposal", proposal_id=fresh.pk)
        else:
            messages.error(request, "Choose approve, reject or re-price.")
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect("workspace-proposal", proposal_id=proposal_id)


@login_required
@require_POST
def bulk_approve(request: HttpRequest) -> HttpResponse:
    _require_advisor(request)
    # strictly digits: "²".isdigit() holds but int() refuses it, and a crafted form is no 500
    numbers = [(value, whole_number(value)) for value in request.POST.getlist("proposal")]
    ids = list(dict.fromkeys(number for _, number in numbers if number is not None))
    skipped = [value for value, number in numbers if number is None]
    if skipped:
        shown = ", ".join(repr(value[:20]) for value in skipped[:3])
        more = f" and {len(skipped) - 3} more" if len(skipped) > 3 else ""
        messages.error(request, f"Skipped what is not a proposal number: {shown}{more}.")
    if not ids:
        messages.error(request, "Select at least one proposal to approve.")
        return redirect("workspace")
    comment = request.POST.get("comment", "")
    approved, failed = [], []
    for proposal_id in ids:
        try:
            proposal_approve(proposal_id=proposal_id, actor=request.user, comment=comment)
            approved.append(proposal_id)
        except DomainError as exc:
            failed.append(f"{proposal_id}: {exc.message}")
    if approved:
        messages.success(
            request, f"Approved {len(approved)} proposal(s): {', '.join(map(str, approved))}."
        )
    for failure in failed:
        messages.error(request, failure)
    return redirect("workspace")
