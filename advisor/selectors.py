"""Who may see what: the visibility rules every page, API view and websocket goes through."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from advisor.models import Client, Role
from portfolios.core.errors import NotFound
from portfolios.live import advisor_group, household_group
from portfolios.models import Household


def households_visible_to(*, user: Any) -> QuerySet[Household]:
    """A client sees their own household, an advisor their clients' households, staff all."""
    if user is None or not user.is_authenticated or not user.is_active:
        return Household.objects.none()
    if user.role == Role.STAFF:
        return Household.objects.all()
    if user.role == Role.ADVISOR:
        return Household.objects.filter(clients__advisor=user).distinct()
    return Household.objects.filter(clients__user=user).distinct()


def household_for_user(*, user: Any, household_id: int) -> Household:
    """The household if the user may see it; otherwise NotFound (never reveal that it exists)."""
    household = households_visible_to(user=user).filter(pk=household_id).first()
    if household is None:
        raise NotFound(f"household {household_id} not found")
    return household


def client_for_user(*, user: Any) -> Client | None:
    if user is None or not user.is_authenticated:
        return None
    return Client.objects.select_related("household").filter(user=user).first()


def clients_visible_to(*, user: Any) -> QuerySet[Client]:
    if user is None or not user.is_authenticated or not user.is_active:
        return Client.objects.none()
    if user.role == Role.STAFF:
        return Client.objects.all()
    if user.role == Role.ADVISOR:
        return Client.objects.filter(advisor=user)
    return Client.objects.filter(user=user)


def live_groups_for_user(*, user: Any, household_id: int | None = None) -> list[str]:
    """The Channels groups a user's websocket joins; empty when they may not listen to any."""
    households = households_visible_to(user=user)
    if household_id is not None:
        households = households.filter(pk=household_id)
    groups = [household_group(pk) for pk in households.values_list("pk", flat=True)]
    if household_id is None and user.role == Role.ADVISOR:
        groups.append(advisor_group(user.pk))
    return groups
