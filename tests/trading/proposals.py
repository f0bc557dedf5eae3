"""An approved proposal to execute: it sells part of a holding and buys the rest of the model."""

import datetime as dt
from decimal import Decimal

from advisor.services.clients import esg_preference_save
from advisor.services.proposals import proposal_approve, proposal_build
from advisor.services.recommendations import recommendations_refresh
from portfolios.services import holding_transfer_in
from tests.advisor.services.market import build_market
from tests.factories import AccountFactory, RiskProfileFactory

AS_OF = dt.date(2025, 6, 30)
NOW = dt.datetime(2025, 7, 1, 15, 0, tzinfo=dt.UTC)
D = Decimal


def approved_proposal(*, cash="0.00"):
    """A 60/36/4 client holding 300 USA1 and ``cash``, with its approved proposal."""
    assets = {a.symbol: a for a in build_market()}
    profile = RiskProfileFactory(
        score=6, equity_weight=D("0.60"), bond_weight=D("0.36"), cash_weight=D("0.04")
    )
    esg_preference_save(client=profile.client, min_esg_score=0, excluded_categories=[])
    account = AccountFactory(household=profile.client.household, cash=D(cash))
    holding_transfer_in(
        account=account,
        asset=assets["USA1"],
        quantity_=D("300"),
        cost_basis=D("24000"),
        acquired_on=dt.date(2024, 1, 2),
    )
    recommendations_refresh(as_of=AS_OF)
    proposal = proposal_build(account_id=account.pk, as_of=AS_OF, now=NOW)
    assert proposal is not None
    proposal_approve(proposal_id=proposal.pk, actor=profile.client.advisor, now=NOW)
    return proposal
