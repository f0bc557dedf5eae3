"""A harvest end to end: the scan finds the loss, the advisor approves, the exchange fills, the
loss is realised without a wash sale, the sold fund is blocked for 30 days in every account of the
household, and the next rebalance buys around the block."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse

from advisor.services.clients import esg_preference_save
from advisor.services.proposals import (
    MarketSnapshot,
    active_blocks,
    proposal_approve,
    proposals_run,
)
from advisor.services.recommendations import recommendations_refresh
from portfolios.models import HarvestBlock, ProposalReason, ProposalStatus, RealizedLot, WashSale
from portfolios.services import holding_transfer_in
from tests.advisor.services.market import AS_OF, NOW, build_market
from tests.factories import PASSWORD, AccountFactory, RiskProfileFactory
from trading.services import proposal_execute

D = Decimal


@pytest.fixture
def losing_book(db):
    assets = {a.symbol: a for a in build_market()}
    profile = RiskProfileFactory(
        score=6, equity_weight=D("0.60"), bond_weight=D("0.36"), cash_weight=D("0.04")
    )
    esg_preference_save(client=profile.client, min_esg_score=0, excluded_categories=[])
    account = AccountFactory(household=profile.client.household, cash=D("0.00"))
    # bought BOND far above today's price: a large loss, held long enough not to be washed
    price = MarketSnapshot(as_of=AS_OF).prices["BOND"]
    holding_transfer_in(
        account=account,
        asset=assets["BOND"],
        quantity_=D("200"),
        cost_basis=price * 200 * D("1.4"),
        acquired_on=dt.date(2024, 1, 2),
    )
    prices = MarketSnapshot(as_of=AS_OF).prices
    for symbol, qty in (
        ("USA1", "250"),
        ("INTL", "150"),
        ("TIPS", "100"),
    ):  # the rest of the account, at gains
        holding_transfer_in(
            account=account,
            asset=assets[symbol],
            quantity_=D(qty),
            cost_basis=prices[symbol] * D(qty) * D("0.8"),
            acquired_on=dt.date(2024, 1, 2),
        )
    recommendations_refresh(as_of=AS_OF)
    return {
        "account": account,
        "advisor": profile.client.advisor,
        "household": profile.client.household,
    }


def test_a_harvest_realises_the_loss_and_blocks_the_fund(losing_book):
    with time_machine.travel(NOW, tick=False):
        report = proposals_run(as_of=AS_OF, now=NOW)
    assert report.harvests == 1
    proposal = losing_book["account"].proposals.get(status=ProposalStatus.PENDING)
    assert proposal.reason == ProposalReason.HARVEST
    sides = {(t.side, t.asset.symbol) for t in proposal.trades.all()}
    assert ("sell", "BOND") in sides and not any(s == "buy" and sym == "BOND" for s, sym in sides)
    proposal_approve(proposal_id=proposal.pk, actor=losing_book["advisor"], now=NOW)
    proposal_execute(proposal_id=proposal.pk, now=NOW)
    proposal.refresh_from_db()
    assert proposal.status == ProposalStatus.DONE
    loss = RealizedLot.objects.get(account=losing_book["account"], asset__symbol="BOND")
    assert (
        loss.gain < 0 and loss.adjustment_amount == 0
    )  # allowed: nothing substantially identical bought
    assert not WashSale.objects.exists()
    block = HarvestBlock.objects.get(household=losing_book["household"])
    assert block.symbol == "BOND" and block.blocked_until == NOW.date() + dt.timedelta(days=30)
    assert "BOND" in active_blocks(losing_book["household"].pk, NOW.date() + dt.timedelta(days=30))
    assert "BOND" not in active_blocks(
        losing_book["household"].pk, NOW.date() + dt.timedelta(days=31)
    )


def test_the_harvest_shows_its_tax_saving_to_the_advisor_and_the_client(losing_book, client):
    with time_machine.travel(NOW, tick=False):
        proposals_run(as_of=AS_OF, now=NOW)
    proposal = losing_book["account"].proposals.get(status=ProposalStatus.PENDING)
    saving = proposal.estimated_tax_saving
    assert saving > 0 and proposal.estimated_tax == 0  # the loss saves tax; nothing is due
    # the same figure the explanation gives
    assert f"Estimated tax benefit ${saving:,.2f} net of trading costs." in proposal.explanation
    assert client.login(username=losing_book["advisor"].username, password=PASSWORD)
    page = client.get(reverse("workspace-proposal", args=[proposal.pk])).content.decode()
    assert 'data-testid="tax-saving"' in page and f"${saving:,.2f}</span>" in page
    # the explanation's realised loss never breaks between its sign and its amount
    loss = -min(proposal.realized_gain_short, proposal.realized_gain_long)
    assert loss > 0
    assert f'<span class="nowrap">\u2212${loss:,.2f}</span>' in page
    book = client.get(reverse("workspace")).content.decode()
    assert f"saves ${saving:,.2f}</span>" in book
    api = client.get(reverse("api-proposal", args=[proposal.pk])).json()
    assert Decimal(api["estimated_tax_saving"]) == saving
    member = losing_book["household"].clients.first()
    client.logout()
    assert client.login(username=member.user.username, password=PASSWORD)
    dashboard = client.get(reverse("household-dashboard", args=[losing_book["household"].pk]))
    assert f"estimated tax saving ${saving:,.2f}" in dashboard.content.decode()


def test_while_blocked_the_next_rebalance_never_buys_the_fund(losing_book):
    with time_machine.travel(NOW, tick=False):
        proposals_run(as_of=AS_OF, now=NOW)
        proposal = losing_book["account"].proposals.get(status=ProposalStatus.PENDING)
        proposal_approve(proposal_id=proposal.pk, actor=losing_book["advisor"], now=NOW)
        proposal_execute(proposal_id=proposal.pk, now=NOW)
        # a deposit a week later: every purchase path respects the block
        from advisor.services.cash_flows import deposit_record

    later = NOW + dt.timedelta(days=7)
    with time_machine.travel(later, tick=False):
        _, deposit_proposal = deposit_record(
            account_id=losing_book["account"].pk, amount=D("50000")
        )
    assert deposit_proposal is not None
    bought = {t.asset.symbol for t in deposit_proposal.trades.filter(side="buy")}
    assert "BOND" not in bought
