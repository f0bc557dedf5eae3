"""What happens between daily runs: a deposit, a withdrawal request or a profile change checks
the affected accounts at once (cash flows first: deposits buy underweights, withdrawals sell
overweights with the best lots)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from advisor.services.proposals import proposal_build
from advisor.services.recommendations import recommendation_for_household
from portfolios.clock import firm_today
from portfolios.core.errors import InvalidInput
from portfolios.core.money import cash
from portfolios.models import Account, Household, RebalanceProposal, Recommendation
from portfolios.services import cash_deposit


def deposit_record(
    *, account_id: int, amount: Decimal, on: dt.date | None = None, external_id: str | None = None
) -> tuple[object, RebalanceProposal | None]:
    """Book a deposit and propose investing it (approved automatically if the firm allows it)."""
    now = timezone.now()
    account = Account.objects.get(pk=account_id)
    txn = cash_deposit(
        account=account, amount=amount, on=on or firm_today(now), external_id=external_id
    )
    proposal = proposal_build(account_id=account_id, as_of=firm_today(now), now=now)
    return txn, proposal


def withdrawal_request(*, account_id: int, amount: Decimal) -> RebalanceProposal:
    """Propose raising ``amount`` (overweights sold first, with the best lots); the cash is paid
    out once the sells have filled. With enough cash already, nothing needs selling."""
    value = cash(amount)
    if value <= 0:
        raise InvalidInput(f"a withdrawal must be positive, got {value}", field="amount")
    now = timezone.now()
    proposal = proposal_build(
        account_id=account_id, as_of=firm_today(now), now=now, withdrawal=value
    )
    if proposal is None:
        raise InvalidInput("the account cannot raise that amount now", field="amount")
    return proposal


@dataclass(frozen=True)
class ProfileChange:
    recommendation: Recommendation
    proposals: tuple[RebalanceProposal, ...]


def household_profile_changed(*, household_id: int) -> ProfileChange:
    """After a risk profile or ESG preference changes: a new target, and proposals to reach it.

    Raises InfeasibleProblem (naming the conflict) when the new preferences cannot be met; the
    previous recommendation then stays.
    """
    now = timezone.now()
    household = Household.objects.get(pk=household_id)
    recommendation = recommendation_for_household(household=household, as_of=firm_today(now))
    proposals = []
    for account_id in Account.objects.filter(household=household, is_active=True).values_list(
        "pk", flat=True
    ):
        proposal = proposal_build(
            account_id=account_id, as_of=firm_today(now), now=now, profile_change=True
        )
        if proposal is not None:
            proposals.append(proposal)
    return ProfileChange(recommendation=recommendation, proposals=tuple(proposals))


def profile_change_enqueue(*, household_id: int) -> None:
    """Recompute after the current transaction commits (a Celery task in production)."""
    from worker.tasks import household_profile_changed as task

    transaction.on_commit(lambda: task.delay(household_id))
