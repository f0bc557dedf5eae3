"""Deposits, withdrawals and profile changes check the accounts between daily runs."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine

from advisor.services.cash_flows import (
    deposit_record,
    household_profile_changed,
    withdrawal_request,
)
from advisor.services.clients import esg_preference_save, risk_profile_save
from advisor.services.proposals import proposal_approve
from portfolios.core.errors import InfeasibleProblem, InvalidInput
from portfolios.models import ProposalReason, ProposalStatus, Recommendation, Transaction
from tests.advisor.services.market import NOW
from trading.services import proposal_execute

D = Decimal


@pytest.fixture(autouse=True)
def _clock():
    with time_machine.travel(NOW, tick=False):
        yield


def test_a_deposit_is_invested_without_selling(book):
    _, proposal = deposit_record(account_id=book["account"].pk, amount=D("5000"))
    assert proposal is not None
    # the account also drifts, so the deposit is part of a drift proposal here; either way the cash is used
    assert proposal.trades.filter(side="buy").exists()
    assert Transaction.objects.filter(
        account=book["account"], kind="deposit", amount=D("5000.00")
    ).exists()


def test_a_withdrawal_sells_then_pays_out(book):
    account = book["account"]
    proposal = withdrawal_request(account_id=account.pk, amount=D("3000"))
    assert proposal.reason == ProposalReason.CASH_FLOW and proposal.withdrawal_amount == D(
        "3000.00"
    )
    assert all(t.side == "sell" for t in proposal.trades.all())
    proposal_approve(proposal_id=proposal.pk, actor=book["advisor"], now=NOW)
    proposal_execute(proposal_id=proposal.pk, now=NOW)
    proposal.refresh_from_db()
    assert proposal.status == ProposalStatus.DONE
    paid = Transaction.objects.get(account=account, kind="withdrawal")
    assert paid.amount == D("-3000.00") and paid.external_id == f"withdrawal:proposal:{proposal.pk}"
    with pytest.raises(InvalidInput, match="must be positive"):
        withdrawal_request(account_id=account.pk, amount=D("0"))


def test_a_profile_change_recomputes_and_proposes(book):
    client = book["client"]
    before = Recommendation.objects.get(household=client.household, is_current=True)
    risk_profile_save(
        client=client,
        answers={
            "drawdown_reaction": "sell_some",
            "goal": "income",
            "outcome_range": "narrow",
            "experience": "some",
            "risk_attitude": "cautious",
            "income_stability": "stable",
            "emergency_fund": "3_to_6",
            "net_worth_share": "50_to_75",
            "near_term_withdrawals": "some",
        },
        horizon_years=5,
    )
    change = household_profile_changed(household_id=client.household_id)
    assert change.recommendation.pk != before.pk and change.recommendation.risk_score < 6
    assert change.proposals and all(
        p.reason == ProposalReason.PROFILE_CHANGE for p in change.proposals
    )


def test_an_impossible_new_preference_keeps_the_old_target(book):
    client = book["client"]
    before = Recommendation.objects.get(household=client.household, is_current=True)
    esg_preference_save(client=client, min_esg_score=99, excluded_categories=[])
    with pytest.raises(InfeasibleProblem, match="ESG"):
        household_profile_changed(household_id=client.household_id)
    assert Recommendation.objects.get(household=client.household, is_current=True).pk == before.pk


def test_no_proposal_while_one_executes(book):
    from advisor.services.proposals import proposal_build

    first = proposal_build(account_id=book["account"].pk, as_of=dt.date(2025, 6, 30), now=NOW)
    proposal_approve(proposal_id=first.pk, actor=book["advisor"], now=NOW)
    assert (
        proposal_build(account_id=book["account"].pk, as_of=dt.date(2025, 6, 30), now=NOW) is None
    )
