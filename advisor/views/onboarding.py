"""Sign-up and the onboarding wizard. Views parse forms and call the onboarding services.

Each step is a plain HTML form that works without JavaScript; the risk step also previews the
score live by posting its answers to :func:`risk_preview` (JSON, CSRF-protected). Progress lives
in the user's :class:`~advisor.models.OnboardingDraft`, so a reload or a new session resumes at
the same step with the same answers.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from advisor.core.questionnaire import QUESTIONS, SCORE_MEANING, assess
from advisor.forms import (
    AccountForm,
    ESGForm,
    GoalForm,
    HoldingForm,
    HoldingsUploadForm,
    RiskQuestionnaireForm,
    SignUpForm,
    TaxForm,
)
from advisor.models import Client, OnboardingDraft, OnboardingStep, Role, User
from advisor.portal_selectors import latest_price_date, needs_onboarding
from advisor.selectors import client_for_user
from advisor.services import onboarding as svc
from portfolios.clock import firm_today
from portfolios.core.errors import Conflict, DomainError, InfeasibleProblem, InvalidInput
from portfolios.models import AccountType, Asset, ExclusionTag, FilingStatus, SecurityType


@require_http_methods(["GET", "POST"])
def sign_up(request: HttpRequest) -> HttpResponse:
    """Create a client login with a household and an advisor, then start the wizard."""
    if request.user.is_authenticated:
        return redirect("home")
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            client = svc.client_sign_up(
                username=data["username"],
                email=data["email"],
                password=data["password1"],
                first_name=data["first_name"],
                last_name=data["last_name"],
            )
        except Conflict as exc:
            form.add_error("username", exc.message)
        else:
            assert client.user is not None
            login(request, client.user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(
                request, f"Welcome, {client.first_name}. A few questions and your plan is ready."
            )
            return redirect("onboarding")
    # the login comes before the wizard, so the page names the steps still to come, not a number
    return render(request, "registration/signup.html", {"form": form, "step_count": len(svc.STEPS)})


def _wizard_client(request: HttpRequest) -> Client:
    """The client onboarding now; 404 for advisors, staff and logins without a client."""
    user = request.user
    if getattr(user, "role", None) != Role.CLIENT:
        raise Http404("onboarding is for clients")
    client = client_for_user(user=user)
    if client is None:
        raise Http404("no client record for this login")
    return client


def _done_redirect(client: Client) -> HttpResponse | None:
    if not needs_onboarding(client):
        return redirect("client-dashboard")
    return None


@login_required
def onboarding(request: HttpRequest) -> HttpResponse:
    """Resume the wizard where the client left it."""
    client = _wizard_client(request)
    if (done := _done_redirect(client)) is not None:
        return done
    draft = svc.onboarding_draft_get(user=_user(request))
    step = draft.step if svc.step_is_open(draft, draft.step) else svc.first_open_step(draft)
    return redirect("onboarding-step", step=step)


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


@login_required
@require_http_methods(["GET", "POST"])
def onboarding_step(request: HttpRequest, step: str) -> HttpResponse:
    client = _wizard_client(request)
    if (done := _done_redirect(client)) is not None:
        return done
    if step not in svc.STEPS:
        raise Http404(f"no onboarding step {step!r}")
    draft = svc.onboarding_draft_get(user=_user(request))
    if not svc.step_is_open(draft, step):
        messages.info(request, "Let's finish this step first.")
        return redirect("onboarding-step", step=svc.first_open_step(draft))
    handler = _HANDLERS[OnboardingStep(step)]
    return handler(request, client, draft)


def _context(draft: OnboardingDraft, step: str, **extra: Any) -> dict[str, Any]:
    index = svc.STEPS.index(step)
    done = set(svc.completed_steps(draft))
    steps = [
        {
            "key": key,
            "label": OnboardingStep(key).label,
            "number": i + 1,
            "done": key in done,
            "current": key == step,
            "open": svc.step_is_open(draft, key),
        }
        for i, key in enumerate(svc.STEPS)
    ]
    return {
        "step": step,
        "step_label": OnboardingStep(step).label,
        "step_number": index + 1,
        "step_count": len(svc.STEPS),
        "steps": steps,
        "previous": svc.STEPS[index - 1] if index else None,
        "draft": draft,
        **extra,
    }


def _save_and_continue(
    request: HttpRequest, step: str, values: dict[str, Any]
) -> HttpResponse | None:
    try:
        draft = svc.onboarding_step_save(user=_user(request), step=step, values=values)
    except DomainError as exc:
        messages.error(request, exc.message)
        return None
    return redirect("onboarding-step", step=draft.step)


def _goal(request: HttpRequest, client: Client, draft: OnboardingDraft) -> HttpResponse:
    stored = draft.data.get(OnboardingStep.GOAL, {})
    form = GoalForm(request.POST or None, initial=stored or {"monthly_contribution": "0.00"})
    if request.method == "POST" and form.is_valid():
        response = _save_and_continue(request, OnboardingStep.GOAL, form.cleaned_data)
        if response is not None:
            return response
    return render(request, "onboarding/goal.html", _context(draft, OnboardingStep.GOAL, form=form))


def _horizon(draft: OnboardingDraft) -> int | None:
    goal = draft.data.get(OnboardingStep.GOAL) or {}
    value = goal.get("horizon_years")
    return int(value) if value is not None else None


def _assessment_view(answers: dict[str, str], horizon: int) -> dict[str, Any]:
    result = assess(answers, horizon_years=horizon)
    return {
        "score": result.score,
        "meaning": SCORE_MEANING[result.score],
        "willingness": result.willingness_score,
        "capacity": result.capacity_score,
        "equity": round(result.equity_weight * 100),
        "bond": round(result.bond_weight * 100),
        "cash": round(result.cash_weight * 100),
        "contradictions": list(result.contradictions),
        "explanation": list(result.explanation),
    }


def _risk(request: HttpRequest, client: Client, draft: OnboardingDraft) -> HttpResponse:
    stored = (draft.data.get(OnboardingStep.RISK) or {}).get("answers", {})
    horizon = _horizon(draft)
    form = RiskQuestionnaireForm(request.POST or None, initial=stored)
    preview = None
    if request.method == "POST" and form.is_valid() and horizon is not None:
        if request.POST.get("action") == "preview":
            preview = _assessment_view(form.answers(), horizon)
        else:
            response = _save_and_continue(request, OnboardingStep.RISK, {"answers": form.answers()})
            if response is not None:
                return response
    elif request.method == "GET" and stored and horizon is not None:
        try:
            preview = _assessment_view(stored, horizon)
        except InvalidInput:
            preview = None
    return render(
        request,
        "onboarding/risk.html",
        _context(
            draft,
            OnboardingStep.RISK,
            form=form,
            preview=preview,
            horizon=horizon,
            question_count=len(QUESTIONS),
        ),
    )


def _tax(request: HttpRequest, client: Client, draft: OnboardingDraft) -> HttpResponse:
    stored = draft.data.get(OnboardingStep.TAX, {})
    form = TaxForm(request.POST or None, initial=TaxForm.initial_from(stored))
    if request.method == "POST" and form.is_valid():
        response = _save_and_continue(request, OnboardingStep.TAX, form.stored_values())
        if response is not None:
            return response
    return render(request, "onboarding/tax.html", _context(draft, OnboardingStep.TAX, form=form))


def _esg(request: HttpRequest, client: Client, draft: OnboardingDraft) -> HttpResponse:
    stored = draft.data.get(OnboardingStep.ESG, {})
    form = ESGForm(request.POST or None, initial=stored or {"min_esg_score": 0})
    if request.method == "POST" and form.is_valid():
        response = _save_and_continue(request, OnboardingStep.ESG, form.cleaned_data)
        if response is not None:
            return response
    problem = svc.onboarding_problem(draft)
    return render(
        request,
        "onboarding/esg.html",
        _context(
            draft,
            OnboardingStep.ESG,
            form=form,
            problem=problem if problem and problem.step == OnboardingStep.ESG else None,
            universe_esg=_universe_esg(),
        ),
    )


def _universe_esg() -> dict[str, Any]:
    scores = list(
        Asset.objects.filter(is_active=True, esg_score__isnull=False).values_list(
            "esg_score", flat=True
        )
    )
    if not scores:
        return {}
    scores.sort()
    return {"low": scores[0], "median": scores[len(scores) // 2], "high": scores[-1]}


def _account_choices(draft: OnboardingDraft) -> list[tuple[str, str]]:
    return [(a["id"], a["name"]) for a in svc.draft_accounts(draft)]


def _universe() -> QuerySet[Asset]:
    return (
        Asset.objects.filter(is_active=True)
        .order_by("symbol")
        .only("symbol", "name", "security_type")
    )


def _labelled(accounts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    labels = dict(AccountType.choices)
    return [{**a, "type_label": labels.get(a["account_type"], a["account_type"])} for a in accounts]


def _accounts(request: HttpRequest, client: Client, draft: OnboardingDraft) -> HttpResponse:
    user = _user(request)
    names = [a["name"] for a in svc.draft_accounts(draft)]
    account_form = AccountForm(existing_names=names, prefix="account")
    holding_form = HoldingForm(accounts=_account_choices(draft), prefix="holding")
    upload_form = HoldingsUploadForm(prefix="upload")
    upload_errors: list[svc.RowError] = []
    action = request.POST.get("action", "") if request.method == "POST" else ""
    status = 200
    try:
        if action == "add_account":
            account_form = AccountForm(request.POST, existing_names=names, prefix="account")
            if account_form.is_valid():
                data = account_form.cleaned_data
                svc.onboarding_account_add(
                    user=user,
                    name=data["name"],
                    account_type=data["account_type"],
                    cash_amount=data["cash"],
                )
                messages.success(request, f"Added the account {data['name']}.")
                return redirect("onboarding-step", step=OnboardingStep.ACCOUNTS)
            status = 400
        elif action == "remove_account":
            svc.onboarding_account_remove(user=user, account_id=request.POST.get("account", ""))
            return redirect("onboarding-step", step=OnboardingStep.ACCOUNTS)
        elif action == "add_holding":
            holding_form = HoldingForm(
                request.POST, accounts=_account_choices(draft), prefix="holding"
            )
            if holding_form.is_valid():
                data = holding_form.cleaned_data
                svc.onboarding_holding_add(
                    user=user,
                    account_id=data["account"],
                    symbol=data["symbol"],
                    quantity_=data["quantity"],
                    cost_basis=data["cost_basis"],
                    acquired_on=data["acquired_on"],
                    basis_reported=svc.BASIS_REPORTED_ANSWERS[data["basis_reported"]],
                )
                messages.success(
                    request, f"Added {data['quantity'].normalize():f} {data['symbol']}."
                )
                return redirect("onboarding-step", step=OnboardingStep.ACCOUNTS)
            status = 400
        elif action == "remove_holding":
            svc.onboarding_holding_remove(
                user=user,
                account_id=request.POST.get("account", ""),
                holding_id=request.POST.get("holding", ""),
            )
            return redirect("onboarding-step", step=OnboardingStep.ACCOUNTS)
        elif action == "upload":
            upload_form = HoldingsUploadForm(request.POST, request.FILES, prefix="upload")
            if upload_form.is_valid():
                known = set(_universe().values_list("symbol", flat=True))
                parsed = svc.holdings_csv_parse(
                    text=upload_form.cleaned_data["file"],
                    known_symbols=known,
                    last_prices=svc.last_closes(symbols=known),
                    today=firm_today(),
                    existing_accounts={
                        a["name"]: a["account_type"] for a in svc.draft_accounts(draft)
                    },
                )
                if parsed.ok:
                    svc.onboarding_holdings_import(user=user, upload=parsed)
                    messages.success(
                        request,
                        f"Imported {len(parsed.rows)} holding{'s' if len(parsed.rows) != 1 else ''}.",
                    )
                    return redirect("onboarding-step", step=OnboardingStep.ACCOUNTS)
                upload_errors = list(parsed.errors)
            status = 400
        elif action == "continue":
            svc.onboarding_accounts_confirm(user=user)
            return redirect("onboarding-step", step=OnboardingStep.REVIEW)
    except DomainError as exc:
        messages.error(request, exc.message)
        status = 400
    draft.refresh_from_db()
    universe = list(_universe())
    return render(
        request,
        "onboarding/accounts.html",
        _context(
            draft,
            OnboardingStep.ACCOUNTS,
            accounts=_labelled(svc.draft_accounts(draft)),
            account_form=account_form,
            holding_form=holding_form,
            upload_form=upload_form,
            upload_errors=upload_errors,
            upload_bad_rows=len({e.line for e in upload_errors}),
            universe=universe,
            sample_symbols=[a.symbol for a in universe if a.security_type == SecurityType.ETF][:2]
            or ["VTI", "BND"],
        ),
        status=status,
    )


def _review(request: HttpRequest, client: Client, draft: OnboardingDraft) -> HttpResponse:
    error = None
    if request.method == "POST":
        try:
            svc.onboarding_submit(
                user=_user(request),
                as_of=latest_price_date() or firm_today(),
                today=firm_today(),
            )
        except InfeasibleProblem:
            return redirect("onboarding-step", step=OnboardingStep.ESG)
        except DomainError as exc:
            error = exc.message
            draft.refresh_from_db()
        else:
            messages.success(
                request,
                "Your accounts are set up and your recommended portfolio is ready. "
                "Your adviser will review it with you.",
            )
            return redirect(reverse("client-dashboard") + "#recommendation")
    data = draft.data
    goal, tax, esg = data.get("goal", {}), data.get("tax", {}), data.get("esg", {})
    answers = (data.get("risk") or {}).get("answers", {})
    labels = {q.key: {c.value: c.label for c in q.choices} for q in QUESTIONS}
    exclusions = dict(ExclusionTag.choices)
    problem = svc.onboarding_problem(draft)
    accounts = svc.draft_accounts(draft)
    return render(
        request,
        "onboarding/review.html",
        _context(
            draft,
            OnboardingStep.REVIEW,
            goal=goal,
            tax={
                **tax,
                "filing_status_label": dict(FilingStatus.choices).get(tax.get("filing_status")),
                "short_pct": Decimal(tax.get("short_term_rate", "0")) * 100,
                "long_pct": Decimal(tax.get("long_term_rate", "0")) * 100,
            },
            esg={
                **esg,
                "exclusion_labels": [
                    exclusions.get(e, e) for e in esg.get("excluded_categories", [])
                ],
            },
            answers=[(q.text, labels[q.key].get(answers.get(q.key, ""), "—")) for q in QUESTIONS],
            assessment=_assessment_view(answers, _horizon(draft) or 1)
            if len(answers) == len(QUESTIONS)
            else None,
            accounts=_labelled(accounts),
            total_cash=sum((Decimal(a["cash"]) for a in accounts), Decimal("0")),
            total_holdings=sum(len(a["holdings"]) for a in accounts),
            error=error or (problem.message if problem and problem.step == "review" else None),
        ),
        status=400 if error else 200,
    )


_HANDLERS = {
    OnboardingStep.GOAL: _goal,
    OnboardingStep.RISK: _risk,
    OnboardingStep.TAX: _tax,
    OnboardingStep.ESG: _esg,
    OnboardingStep.ACCOUNTS: _accounts,
    OnboardingStep.REVIEW: _review,
}


@login_required
@require_POST
def risk_preview(request: HttpRequest) -> JsonResponse:
    """Score the answers given so far (JSON in, JSON out) for the live preview."""
    client = _wizard_client(request)
    draft = svc.onboarding_draft_get(user=_user(request))
    horizon = _horizon(draft)
    if horizon is None or not needs_onboarding(client):
        return JsonResponse(
            {"error": {"code": "conflict", "message": "complete the goal step first"}}, status=409
        )
    try:
        body = json.loads(request.body or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        return JsonResponse(
            {"error": {"code": "invalid_input", "message": "the body must be JSON"}}, status=400
        )
    raw = body.get("answers") if isinstance(body, dict) else None
    if not isinstance(raw, dict):
        return JsonResponse(
            {"error": {"code": "invalid_input", "message": "answers must be an object"}},
            status=400,
        )
    answers = {str(k): str(v) for k, v in raw.items() if v not in (None, "")}
    answered = sum(1 for q in QUESTIONS if q.key in answers)
    if answered < len(QUESTIONS):
        return JsonResponse(
            {
                "complete": False,
                "answered": answered,
                "total": len(QUESTIONS),
                "message": f"Answer all {len(QUESTIONS)} questions to see your score "
                f"({answered} answered so far).",
            }
        )
    try:
        result = _assessment_view(answers, horizon)
    except InvalidInput as exc:
        return JsonResponse({"error": exc.as_dict()}, status=400)
    return JsonResponse({"complete": True, "answered": answered, "total": len(QUESTIONS), **result})
