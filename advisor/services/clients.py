"""Users, clients, risk profiles and ESG preferences."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal

from django.db import transaction

from advisor.core.questionnaire import RiskAssessment, assess
from advisor.models import Client, ESGPreference, RiskProfile, Role, User
from portfolios.core.errors import InvalidInput
from portfolios.core.money import cash
from portfolios.models import ExclusionTag, Household


def user_create(
    *,
    username: str,
    password: str | None,
    role: str,
    first_name: str = "",
    last_name: str = "",
    email: str = "",
) -> User:
    """A login with a role; staff get admin access, nobody else does."""
    if role not in Role.values:
        raise InvalidInput(f"unknown role {role!r}", field="role")
    user = User(
        username=username,
        role=role,
        first_name=first_name,
        last_name=last_name,
        email=email,
        is_staff=role == Role.STAFF,
        is_superuser=role == Role.STAFF,
    )
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.save()
    return user


def risk_profile_save(
    *,
    client: Client,
    answers: Mapping[str, str],
    horizon_years: int,
    goal_amount: Decimal | None = None,
    monthly_contribution: Decimal = Decimal("0"),
) -> tuple[RiskProfile, RiskAssessment]:
    """Score the questionnaire and store (or replace) the client's risk profile."""
    result = assess(answers, horizon_years=horizon_years)
    goal = cash(goal_amount, name="goal_amount") if goal_amount is not None else None
    if goal is not None and goal <= 0:
        raise InvalidInput("the goal amount must be positive", field="goal_amount")
    contribution = cash(monthly_contribution, name="monthly_contribution")
    if contribution < 0:
        raise InvalidInput(
            "the monthly contribution must not be negative", field="monthly_contribution"
        )
    profile, _ = RiskProfile.objects.update_or_create(
        client=client,
        defaults={
            "answers": dict(answers),
            "willingness_score": result.willingness_score,
            "capacity_score": result.capacity_score,
            "score": result.score,
            "horizon_years": horizon_years,
            "goal_amount": goal,
            "monthly_contribution": contribution,
            "equity_weight": Decimal(str(result.equity_weight)),
            "bond_weight": Decimal(str(result.bond_weight)),
            "cash_weight": Decimal(str(result.cash_weight)),
            "contradictions": list(result.contradictions),
            "explanation": list(result.explanation),
        },
    )
    return profile, result


def esg_preference_save(
    *, client: Client, min_esg_score: int, excluded_categories: Iterable[str]
) -> ESGPreference:
    """Store the client's ESG floor (0-100) and excluded categories."""
    if (
        isinstance(min_esg_score, bool)
        or not isinstance(min_esg_score, int)
        or not 0 <= min_esg_score <= 100
    ):
        raise InvalidInput(
            f"the ESG floor must be a whole number 0-100, got {min_esg_score!r}",
            field="min_esg_score",
        )
    categories = sorted(set(excluded_categories))
    unknown = [c for c in categories if c not in ExclusionTag.values]
    if unknown:
        raise InvalidInput(
            f"unknown exclusion categor{'y' if len(unknown) == 1 else 'ies'}: {', '.join(unknown)}",
            field="excluded_categories",
        )
    preference, _ = ESGPreference.objects.update_or_create(
        client=client, defaults={"min_esg_score": min_esg_score, "excluded_categories": categories}
    )
    return preference


@transaction.atomic
def client_create(
    *,
    household: Household,
    first_name: str,
    last_name: str,
    email: str = "",
    user: User | None = None,
    advisor: User | None = None,
    annual_income: Decimal | None = None,
) -> Client:
    if advisor is not None and advisor.role != Role.ADVISOR:
        raise InvalidInput(f"{advisor.username} is not an advisor", field="advisor")
    if user is not None and user.role != Role.CLIENT:
        raise InvalidInput(f"{user.username} is not a client login", field="user")
    return Client.objects.create(
        household=household,
        user=user,
        advisor=advisor,
        first_name=first_name,
        last_name=last_name,
        email=email,
        annual_income=annual_income,
    )
