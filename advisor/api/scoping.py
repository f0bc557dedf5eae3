"""What each user may see, as querysets. Everything hangs off households, by the rule of
``advisor.selectors.households_visible_to``: a client their own household, an advisor the
households of their clients, staff all, an inactive user nothing.

The rule is applied here as an ``EXISTS`` on the household's clients rather than an ``IN`` over
the selector's ``DISTINCT`` join: one indexed semi-join that every API request runs. The
authorisation matrix test (``tests/api/test_authorisation_matrix.py``) holds both to the same
answers.
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.db.models import Exists, Model, OuterRef, QuerySet

from advisor.models import Client, Role
from advisor.selectors import clients_visible_to
from portfolios.core.errors import NotFound
from portfolios.models import (
    Account,
    Household,
    RebalanceProposal,
    Recommendation,
    TaxLot,
    Transaction,
)
from signals.models import DetectedSignal
from trading.models import Fill, Order

M = TypeVar("M", bound=Model)


def in_household_scope(queryset: QuerySet[M], user: Any, *, household: str) -> QuerySet[M]:
    """``queryset`` narrowed to rows whose household (the lookup path ``household``, e.g.
    ``"account__household"``, or ``"pk"`` for households themselves) ``user`` may see."""
    if user is None or not user.is_authenticated or not user.is_active:
        return queryset.none()
    if user.role == Role.STAFF:
        return queryset
    if user.role == Role.ADVISOR:
        clients = Client.objects.filter(household=OuterRef(household), advisor=user)
    else:
        clients = Client.objects.filter(household=OuterRef(household), user=user)
    return queryset.filter(Exists(clients))


def one_in_household_scope(queryset: QuerySet[M], user: Any, *, household: str) -> QuerySet[M]:
    """Like :func:`in_household_scope` for a lookup of one object (``.first()``): a plain join
    (a row may repeat when a household has two of the advisor's clients; one is taken), cheaper
    to build and to plan than the semi-join."""
    if user is None or not user.is_authenticated or not user.is_active:
        return queryset.none()
    if user.role == Role.STAFF:
        return queryset
    clients = "clients" if household == "pk" else f"{household}__clients"
    if user.role == Role.ADVISOR:
        return queryset.filter(**{f"{clients}__advisor": user})
    return queryset.filter(**{f"{clients}__user": user})


def household_in_scope(*, user: Any, household_id: int) -> Household:
    """The household if ``user`` may see it; otherwise NotFound (never saying it exists).

    One object, so a plain join with ``LIMIT 1`` does (no semi-join, no ``DISTINCT``)."""
    households = one_in_household_scope(
        Household.objects.filter(pk=household_id), user, household="pk"
    )
    household = households.first()
    if household is None:
        raise NotFound(f"household {household_id} not found")
    return household


def accounts_visible_to(user: Any) -> QuerySet[Account]:
    return in_household_scope(Account.objects.all(), user, household="household")


def lots_visible_to(user: Any) -> QuerySet[TaxLot]:
    return in_household_scope(TaxLot.objects.all(), user, household="account__household")


def transactions_visible_to(user: Any) -> QuerySet[Transaction]:
    return in_household_scope(Transaction.objects.all(), user, household="account__household")


def recommendations_visible_to(user: Any) -> QuerySet[Recommendation]:
    return in_household_scope(Recommendation.objects.all(), user, household="household")


def proposals_visible_to(user: Any) -> QuerySet[RebalanceProposal]:
    return in_household_scope(RebalanceProposal.objects.all(), user, household="account__household")


def orders_visible_to(user: Any) -> QuerySet[Order]:
    return in_household_scope(Order.objects.all(), user, household="account__household")


def fills_visible_to(user: Any) -> QuerySet[Fill]:
    return in_household_scope(Fill.objects.all(), user, household="order__account__household")


def clients_scope(user: Any) -> QuerySet[Client]:
    return clients_visible_to(user=user)


def signals_visible() -> QuerySet[DetectedSignal]:
    """The firm's detected signals (market-wide data; the view admits advisors and staff)."""
    return DetectedSignal.objects.all()
