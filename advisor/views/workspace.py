"""The advisor workspace: the client book, proposal review, approval (single and bulk)."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from advisor import workspace_selectors as ws
from advisor.models import Role
from advisor.services.proposals import proposal_approve, proposal_reject, proposal_reprice
from portfolios.core.errors import DomainError


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


def _weights_chart(proposal: Any) -> str:
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
    return json.dumps(figure.to_plotly_json(), default=str)


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
        "orders": ws.proposal_orders(proposal),
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


def _risk_rows(proposal: Any) -> list[tuple[str, str, str]]:
    """The risk table's rows, every measure a percentage of the account's value."""
    rows = []
    for label, key, places in (
        ("Volatility (annual)", "volatility", 0),
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
    ids = [int(value) for value in request.POST.getlist("proposal") if value.isdigit()]
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
