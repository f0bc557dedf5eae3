"""Write-side operations the API needs beyond the existing services: registering a client with
everything a recommendation needs in one call, and a risk profile from a score given directly.

A risk score given directly
---------------------------
An integration that runs its own suitability process may send a final risk score (1-10) instead
of the questionnaire's answers. The profile then stores that score as the willingness, capacity
and final score, the equity / bond / cash split that the questionnaire gives the same score
(:data:`advisor.core.questionnaire.ALLOCATION_BY_SCORE`), no answers, and an explanation saying
the score came from the integration, so the advisor sees where it came from. The horizon still
bounds it: a score above the questionnaire's cap for the horizon (at most 3 under 3 years, 5
under 5, 8 under 10) is refused, since the questionnaire could never have produced it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction

from advisor.core.questionnaire import ALLOCATION_BY_SCORE, SCORE_MEANING
from advisor.models import Client, RiskProfile, Role, User
from advisor.services.clients import (
    client_create,
    esg_preference_save,
    risk_profile_save,
    user_create,
)
from portfolios.core.errors import Conflict, InvalidInput
from portfolios.core.money import cash
from portfolios.models import FilingStatus, Household
from portfolios.services import audit_record

#: (horizon up to this many years, highest score it allows); the questionnaire's horizon caps.
HORIZON_SCORE_CAPS: tuple[tuple[int, int], ...] = ((2, 3), (4, 5), (9, 8))


def _score_cap(horizon_years: int) -> int:
    for years, cap in HORIZON_SCORE_CAPS:
        if horizon_years <= years:
            return cap
    return 10


def risk_profile_from_score(
    *,
    client: Client,
    score: int,
    horizon_years: int,
    goal_amount: Decimal | None = None,
    monthly_contribution: Decimal = Decimal("0"),
    source: str = "an integration",
) -> RiskProfile:
    """Store (or replace) the client's risk profile from a final score given directly.

    Raises
    ------
    InvalidInput
        The score is not a whole number 1-10, the horizon is not 1-60 years, the score is above
        what the horizon allows, or the goal or contribution is out of range.
    """
    if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 10:
        raise InvalidInput(
            f"risk_score must be a whole number 1-10, got {score!r}", field="risk_score"
        )
    if (
        isinstance(horizon_years, bool)
        or not isinstance(horizon_years, int)
        or not 1 <= horizon_years <= 60
    ):
        raise InvalidInput(
            f"horizon_years must be a whole number between 1 and 60, got {horizon_years!r}",
            field="horizon_years",
        )
    cap = _score_cap(horizon_years)
    if score > cap:
        raise InvalidInput(
            f"a risk score of {score} is too high for a horizon of {horizon_years} years: "
            f"at most {cap}",
            field="risk_score",
        )
    goal = cash(goal_amount, name="goal_amount") if goal_amount is not None else None
    if goal is not None and goal <= 0:
        raise InvalidInput("the goal amount must be positive", field="goal_amount")
    contribution = cash(monthly_contribution, name="monthly_contribution")
    if contribution < 0:
        raise InvalidInput(
            "the monthly contribution must not be negative", field="monthly_contribution"
        )
    equity, bond, cash_weight = ALLOCATION_BY_SCORE[score]
    explanation = [
        f"Risk score {score}/10 given directly by {source}, not from the questionnaire.",
        f"Score {score}: {SCORE_MEANING[score]} Target split {equity:.0%} equity, "
        f"{bond:.0%} bonds, {cash_weight:.0%} cash.",
    ]
    profile, _ = RiskProfile.objects.update_or_create(
        client=client,
        defaults={
            "answers": {},
            "willingness_score": score,
            "capacity_score": score,
            "score": score,
            "horizon_years": horizon_years,
            "goal_amount": goal,
            "monthly_contribution": contribution,
            "equity_weight": Decimal(str(equity)),
            "bond_weight": Decimal(str(bond)),
            "cash_weight": Decimal(str(cash_weight)),
            "contradictions": [],
            "explanation": explanation,
        },
    )
    return profile


def risk_profile_set(
    *,
    client: Client,
    answers: Mapping[str, str] | None,
    risk_score: int | None,
    horizon_years: int,
    goal_amount: Decimal | None = None,
    monthly_contribution: Decimal = Decimal("0"),
    source: str = "an integration",
) -> RiskProfile:
    """The questionnaire's answers or a score given directly; exactly one of the two."""
    if (answers is None) == (risk_score is None):
        raise InvalidInput(
            "give either the questionnaire's answers or a risk_score, not both", field="risk_score"
        )
    if answers is not None:
        profile, _ = risk_profile_save(
            client=client,
            answers=answers,
            horizon_years=horizon_years,
            goal_amount=goal_amount,
            monthly_contribution=monthly_contribution,
        )
        return profile
    assert risk_score is not None
    return risk_profile_from_score(
        client=client,
        score=risk_score,
        horizon_years=horizon_years,
        goal_amount=goal_amount,
        monthly_contribution=monthly_contribution,
        source=source,
    )


@dataclass(frozen=True)
class HouseholdDetails:
    name: str
    filing_status: str = FilingStatus.SINGLE
    short_term_rate: Decimal | None = None
    long_term_rate: Decimal | None = None


@dataclass(frozen=True)
class PortalLogin:
    username: str
    password: str


@dataclass(frozen=True)
class Registration:
    client: Client
    household: Household
    profile: RiskProfile


def _check_rate(value: Decimal | None, field: str) -> None:
    if value is not None and not Decimal("0") <= value <= Decimal("1"):
        raise InvalidInput(f"{field} must be between 0 and 1, got {value}", field=field)


def _portal_user(login: PortalLogin, *, first_name: str, last_name: str, email: str) -> User:
    """The client's portal login; Conflict when the username is taken, even by a registration
    that commits between the check and the insert (the unique index decides, in a savepoint)."""
    taken = Conflict(f"the username {login.username!r} is taken", field="login.username")
    if User.objects.filter(username__iexact=login.username).exists():
        raise taken
    candidate = User(
        username=login.username, first_name=first_name, last_name=last_name, email=email
    )
    try:
        validate_password(login.password, user=candidate)
    except DjangoValidationError as exc:
        raise InvalidInput(
            "the password is too weak: " + " ".join(exc.messages),
            field="login.password",
            details=list(exc.messages),
        ) from None
    try:
        with transaction.atomic():
            return user_create(
                username=login.username,
                password=login.password,
                role=Role.CLIENT,
                first_name=first_name,
                last_name=last_name,
                email=email,
            )
    except IntegrityError:  # registered concurrently under the same username
        raise taken from None


@transaction.atomic
def client_register(
    *,
    actor: Any,
    household: HouseholdDetails,
    first_name: str,
    last_name: str,
    horizon_years: int,
    answers: Mapping[str, str] | None = None,
    risk_score: int | None = None,
    email: str = "",
    date_of_birth: dt.date | None = None,
    annual_income: Decimal | None = None,
    goal_amount: Decimal | None = None,
    monthly_contribution: Decimal = Decimal("0"),
    min_esg_score: int = 0,
    excluded_categories: Iterable[str] = (),
    advisor: User | None = None,
    login: PortalLogin | None = None,
) -> Registration:
    """Create a household, its client, the client's risk profile and ESG preference at once.

    The client is served by ``actor`` when ``actor`` is an advisor; staff name the advisor
    (``advisor``). Without ``login`` the client has no portal login (an integration-only client);
    with one, the password must pass the configured password validators. All or nothing.

    Raises
    ------
    InvalidInput
        Any field out of range, answers and score both or neither given, a weak password.
    Conflict
        The household name or the username is taken.
    """
    if actor.role == Role.ADVISOR:
        if advisor is not None and advisor.pk != actor.pk:
            raise InvalidInput("an advisor registers clients for themself only", field="advisor")
        advisor = actor
    elif actor.role == Role.STAFF:
        if advisor is None:
            raise InvalidInput("staff must name the advisor who serves the client", field="advisor")
    else:
        raise InvalidInput("only advisors and staff register clients", field="advisor")
    if advisor.role != Role.ADVISOR or not advisor.is_active:
        raise InvalidInput(f"user {advisor.pk} is not an active advisor", field="advisor")
    name = household.name.strip()
    if not name:
        raise InvalidInput("the household name is empty", field="household.name")
    if household.filing_status not in FilingStatus.values:
        raise InvalidInput(
            f"unknown filing status {household.filing_status!r}", field="household.filing_status"
        )
    _check_rate(household.short_term_rate, "household.short_term_rate")
    _check_rate(household.long_term_rate, "household.long_term_rate")
    if annual_income is not None and annual_income < 0:
        raise InvalidInput("the annual income must not be negative", field="annual_income")
    if Household.objects.filter(name=name).exists():
        raise Conflict(f"a household named {name!r} already exists", field="household.name")
    rates: dict[str, Decimal] = {}
    if household.short_term_rate is not None:
        rates["short_term_rate"] = household.short_term_rate
    if household.long_term_rate is not None:
        rates["long_term_rate"] = household.long_term_rate
    try:
        with transaction.atomic():
            created = Household.objects.create(
                name=name, filing_status=household.filing_status, **rates
            )
    except IntegrityError:  # registered concurrently under the same name
        raise Conflict(
            f"a household named {name!r} already exists", field="household.name"
        ) from None
    user = (
        _portal_user(login, first_name=first_name, last_name=last_name, email=email)
        if login is not None
        else None
    )
    client = client_create(
        household=created,
        first_name=first_name,
        last_name=last_name,
        email=email,
        user=user,
        advisor=advisor,
        annual_income=cash(annual_income, name="annual_income")
        if annual_income is not None
        else None,
    )
    if date_of_birth is not None:
        client.date_of_birth = date_of_birth
        client.save(update_fields=["date_of_birth"])
    profile = risk_profile_set(
        client=client,
        answers=answers,
        risk_score=risk_score,
        horizon_years=horizon_years,
        goal_amount=goal_amount,
        monthly_contribution=monthly_contribution,
        source=f"the integration of {actor.username}",
    )
    esg_preference_save(
        client=client, min_esg_score=min_esg_score, excluded_categories=excluded_categories
    )
    audit_record(
        actor_id=actor.pk,
        action="client.registered",
        obj=client,
        data={"household": created.pk, "advisor": advisor.pk, "login": user is not None},
    )
    return Registration(client=client, household=created, profile=profile)
