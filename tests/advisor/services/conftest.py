"""Fixtures of the advisor service tests."""

import datetime as dt
from decimal import Decimal

import pytest

from advisor.services.clients import esg_preference_save
from advisor.services.recommendations import recommendations_refresh
from portfolios.services import holding_transfer_in
from tests.advisor.services.market import AS_OF, build_market
from tests.factories import AccountFactory, RiskProfileFactory

D = Decimal


@pytest.fixture
def book(db):
    assets = {a.symbol: a for a in build_market()}
    profile = RiskProfileFactory(
        score=6, equity_weight=D("0.60"), bond_weight=D("0.36"), cash_weight=D("0.04")
    )
    client = profile.client
    esg_preference_save(client=client, min_esg_score=0, excluded_categories=["fossil_fuels"])
    account = AccountFactory(household=client.household, cash=D("0.00"))
    # everything in one US fund and an excluded energy fund: far from a 60/36/4 target
    holding_transfer_in(
        account=account,
        asset=assets["USA1"],
        quantity_=D("300"),
        cost_basis=D("24000"),
        acquired_on=dt.date(2024, 1, 2),
    )
    holding_transfer_in(
        account=account,
        asset=assets["OILX"],
        quantity_=D("50"),
        cost_basis=D("6000"),
        acquired_on=dt.date(2024, 9, 2),
    )
    recommendations_refresh(as_of=AS_OF)
    return {"client": client, "account": account, "assets": assets, "advisor": client.advisor}
