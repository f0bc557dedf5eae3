"""Proposals from drift and cash flows, advisor approval, and execution on the simulated exchange."""

import datetime as dt
import threading
from decimal import Decimal

import pytest
from django.db import connections

from advisor.services.proposals import (
    MarketSnapshot,
    proposal_approve,
    proposal_build,
    proposal_reject,
    proposals_run,
)
from advisor.services.recommendations import recommendations_refresh
from portfolios.core.errors import Conflict, NotFound
from portfolios.models import (
    AuditEvent,
    FirmSettings,
    Position,
    PriceBar,
    ProposalStatus,
    Recommendation,
    TaxLot,
)
from portfolios.services import cash_deposit, holding_transfer_in
from tests.advisor.services.market import AS_OF, NOW, build_market
from tests.factories import AccountFactory, AdvisorUserFactory, RiskProfileFactory
from trading.models import Fill, Order, OrderStatus, PreTradeCheck, SimulatedExchangeOrder
from trading.services import proposal_execute, risk_limit_current, risk_limit_update

D = Decimal


def build(book, **kw):
    return proposal_build(account_id=book["account"].pk, as_of=AS_OF, now=NOW, **kw)


def test_drift_proposal_has_everything_an_advisor_reviews(book):
    proposal = build(book)
    assert proposal.status == ProposalStatus.PENDING and proposal.reason == "drift"
    trades = list(proposal.trades.order_by("sequence"))
    sides = [t.side for t in trades]
    assert sides == sorted(sides, key=lambda s: s != "sell") and "buy" in sides
    assert any(t.asset.symbol == "OILX" and t.side == "sell" for t in trades)  # excluded: sold off
    assert proposal.drift_before > proposal.drift_after
    assert proposal.estimated_costs > 0
    assert set(proposal.risk_before) == {"volatility", "var_95", "es_95"}
    assert proposal.risk_after["volatility"] < proposal.risk_before["volatility"]
    sells = [t for t in trades if t.side == "sell"]
    assert all(t.lots for t in sells)
    assert proposal.realized_gain_short + proposal.realized_gain_long == sum(
        t.estimated_gain for t in sells
    )
    assert proposal.explanation[0].startswith("The account has drifted")
    assert AuditEvent.objects.filter(
        object_type="RebalanceProposal", object_id=str(proposal.pk), to_state="pending"
    ).exists()


def test_a_newer_proposal_supersedes_and_the_old_cannot_be_approved(book):
    first = build(book)
    second = build(book)
    first.refresh_from_db()
    assert first.status == ProposalStatus.SUPERSEDED and first.superseded_by == second
    with pytest.raises(Conflict, match="superseded"):
        proposal_approve(proposal_id=first.pk, actor=book["advisor"], now=NOW)


def test_approval_executes_every_order_once_and_books_the_fills(book):
    proposal = build(book)
    proposal_approve(
        proposal_id=proposal.pk, actor=book["advisor"], comment="Agreed with the client", now=NOW
    )
    proposal.refresh_from_db()
    assert proposal.status == ProposalStatus.APPROVED and proposal.decided_by == book["advisor"]
    report = proposal_execute(proposal_id=proposal.pk, now=NOW)
    proposal.refresh_from_db()
    assert proposal.status == ProposalStatus.DONE, proposal.execution_summary
    assert report.blocked == 0
    children = Order.objects.filter(proposal=proposal, parent__isnull=False)
    assert all(o.status == OrderStatus.FILLED for o in children)
    # one order at the venue per child, one ledger transaction per fill
    assert SimulatedExchangeOrder.objects.count() == children.count()
    assert (
        Fill.objects.filter(order__proposal=proposal).count()
        == Fill.objects.filter(transaction__isnull=False).count()
    )
    account = book["account"]
    for position in Position.objects.filter(account=account):
        lots = sum(
            TaxLot.objects.filter(account=account, asset=position.asset).values_list(
                "quantity", flat=True
            ),
            D(0),
        )
        assert lots == position.quantity
    assert not Position.objects.filter(
        account=account, asset__symbol="OILX", quantity__gt=0
    ).exists()
    account.refresh_from_db()
    assert account.cash >= 0
    assert (
        PreTradeCheck.objects.filter(order__proposal=proposal).exclude(outcome="pass").count() == 0
    )
    assert proposal.execution_summary["filled"] == proposal.trades.count()
    # running the execution again changes nothing
    proposal_execute(proposal_id=proposal.pk, now=NOW + dt.timedelta(minutes=1))
    assert Order.objects.filter(proposal=proposal, parent__isnull=False).count() == children.count()
    assert SimulatedExchangeOrder.objects.count() == children.count()


def test_a_settlement_missed_by_a_crash_is_caught_up_by_the_next_tick(book, monkeypatch):
    from trading import services

    proposal = build(book)
    proposal_approve(proposal_id=proposal.pk, actor=book["advisor"], now=NOW)
    settle = services.orders_settle
    # the worker dies after booking the sells' fills, before settling them
    monkeypatch.setattr(services, "orders_settle", lambda **kwargs: None)
    proposal_execute(proposal_id=proposal.pk, now=NOW)
    proposal.refresh_from_db()
    assert proposal.status == ProposalStatus.EXECUTING
    held = Order.objects.filter(proposal=proposal, side="buy", status=OrderStatus.HELD)
    assert held.exists()  # waiting for sells that have in fact finished
    monkeypatch.setattr(services, "orders_settle", settle)
    for minute in range(1, 4):  # the execution loop, once a minute
        services.trading_tick(now=NOW + dt.timedelta(minutes=minute))
    proposal.refresh_from_db()
    assert proposal.status == ProposalStatus.DONE, proposal.execution_summary
    assert not Order.objects.filter(proposal=proposal).exclude(status=OrderStatus.FILLED).exists()


def test_double_approval_has_one_outcome(book):
    proposal = build(book)
    proposal_approve(proposal_id=proposal.pk, actor=book["advisor"], now=NOW)
    with pytest.raises(Conflict, match="only a pending proposal"):
        proposal_approve(proposal_id=proposal.pk, actor=book["advisor"], now=NOW)
    assert AuditEvent.objects.filter(object_id=str(proposal.pk), to_state="approved").count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_advisors_approving_at_once_get_one_approval():
    assets = {a.symbol: a for a in build_market()}
    profile = RiskProfileFactory(
        score=6, equity_weight=D("0.60"), bond_weight=D("0.36"), cash_weight=D("0.04")
    )
    account = AccountFactory(household=profile.client.household, cash=D("20000.00"))
    holding_transfer_in(
        account=account,
        asset=assets["USA1"],
        quantity_=D("100"),
        cost_basis=D("9000"),
        acquired_on=dt.date(2024, 1, 2),
    )
    recommendations_refresh(as_of=AS_OF)
    proposal = proposal_build(account_id=account.pk, as_of=AS_OF, now=NOW)
    second_advisor = AdvisorUserFactory()
    profile.client.household.clients.create(
        first_name="Sam", last_name="Partner", advisor=second_advisor
    )
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def approve(actor):
        barrier.wait()
        try:
            proposal_approve(proposal_id=proposal.pk, actor=actor, now=NOW)
            outcomes.append("approved")
        except Conflict:
            outcomes.append("conflict")
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=approve, args=(a,))
        for a in (profile.client.advisor, second_advisor)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["approved", "conflict"]
    assert AuditEvent.objects.filter(object_id=str(proposal.pk), to_state="approved").count() == 1


def test_reject_needs_a_reason_and_only_the_clients_advisor_decides(book):
    proposal = build(book)
    stranger = AdvisorUserFactory()
    with pytest.raises(NotFound):
        proposal_approve(proposal_id=proposal.pk, actor=stranger, now=NOW)
    proposal_reject(
        proposal_id=proposal.pk,
        actor=book["advisor"],
        comment="Client wants to wait until January",
        now=NOW,
    )
    proposal.refresh_from_db()
    assert proposal.status == ProposalStatus.REJECTED and "January" in proposal.advisor_comment


def test_prices_moving_after_pricing_expire_the_proposal(book):
    proposal = build(book)
    PriceBar.objects.filter(asset__symbol="USA1", date=AS_OF).update(close=D("1000"))
    with pytest.raises(Conflict, match="expired"):
        proposal_approve(proposal_id=proposal.pk, actor=book["advisor"], now=NOW)
    proposal.refresh_from_db()
    assert proposal.status == ProposalStatus.EXPIRED


def test_a_restricted_symbol_blocks_its_order_and_flags_the_proposal(book):
    limit = risk_limit_current()
    risk_limit_update(
        limit_id=limit.pk,
        changes={"restricted_symbols": ["OILX"]},
        actor_id=None,
        reason="compliance",
    )
    proposal = build(book)
    proposal_approve(proposal_id=proposal.pk, actor=book["advisor"], now=NOW)
    proposal_execute(proposal_id=proposal.pk, now=NOW)
    blocked = Order.objects.get(proposal=proposal, parent__isnull=False, asset__symbol="OILX")
    assert blocked.status == OrderStatus.BLOCKED and "restricted" in blocked.last_error
    check = PreTradeCheck.objects.get(order=blocked, outcome="hard_fail")
    assert check.limits_version == 2
    proposal.refresh_from_db()
    assert proposal.status == ProposalStatus.PARTIALLY_DONE
    assert (
        blocked.client_order_id.startswith(f"rp{proposal.pk}-")
        or blocked.parent.client_order_id in proposal.execution_summary["blocked"]
    )


def test_a_small_deposit_is_approved_automatically_when_the_firm_allows_it(book):
    account = book["account"]
    # rebalance first so that only the new cash needs investing
    first = build(book)
    proposal_approve(proposal_id=first.pk, actor=book["advisor"], now=NOW)
    proposal_execute(proposal_id=first.pk, now=NOW)
    firm = FirmSettings.current()
    firm.auto_approve_cash_flow_max = D("5000")
    firm.save()
    cash_deposit(account=account, amount=D("1000"), on=AS_OF)
    proposal = build(book)
    assert proposal.reason == "cash_flow" and proposal.auto_approved
    assert all(t.side == "buy" for t in proposal.trades.all())


@pytest.mark.parametrize("algo", ["twap", "vwap", "iceberg"])
def test_large_orders_are_sliced_by_the_firms_policy(book, algo):
    from trading.models import ExecutionPolicy

    policy = ExecutionPolicy.current()
    policy.large_order_algo = algo
    policy.large_order_adv_fraction = D("0.000001")  # every order counts as large
    policy.slices = 4
    policy.save()
    proposal = build(book)
    proposal_approve(proposal_id=proposal.pk, actor=book["advisor"], now=NOW)
    proposal_execute(proposal_id=proposal.pk, now=NOW)
    for parent in Order.objects.filter(proposal=proposal, parent__isnull=True):
        children = list(parent.children.order_by("sequence"))
        assert parent.algo == algo and len(children) > 1
        assert (
            sum(c.quantity for c in children) == parent.quantity
            or parent.status != OrderStatus.PENDING
        )
        if algo == "iceberg":
            assert all(c.order_type == "limit" for c in children)
            # only the first tranche went out; the rest wait for it
            assert children[1].status in (OrderStatus.PENDING, OrderStatus.HELD) or children[
                0
            ].status in (OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.BLOCKED)
    # later slices (and iceberg tranches, one after another) go out as their time comes
    from trading.services import trading_tick

    for minute in range(1, 40):
        trading_tick(now=NOW + dt.timedelta(minutes=minute))
        proposal.refresh_from_db()
        if proposal.status != ProposalStatus.EXECUTING:
            break
    assert proposal.status == ProposalStatus.DONE, proposal.execution_summary


def test_integrations_hear_of_the_proposal_its_approval_and_each_filled_order(
    book, monkeypatch, django_capture_on_commit_callbacks
):
    import json

    from advisor import webhooks
    from integrations.models import WebhookDelivery, WebhookEndpoint

    sent: list[int] = []
    monkeypatch.setattr(webhooks, "_enqueue", lambda ids, countdown=None: sent.extend(ids))
    WebhookEndpoint.objects.create(
        owner=book["advisor"],
        url="https://integrator.example.com/hook",
        secret="s" * 40,
        events=["proposal.created", "proposal.approved", "order.filled"],
    )
    stranger = AdvisorUserFactory()  # not this household's advisor: hears nothing
    WebhookEndpoint.objects.create(
        owner=stranger,
        url="https://other.example.com/hook",
        secret="t" * 40,
        events=["order.filled"],
    )
    with django_capture_on_commit_callbacks(execute=True):
        proposal = build(book)
        proposal_approve(proposal_id=proposal.pk, actor=book["advisor"], now=NOW)
        proposal_execute(proposal_id=proposal.pk, now=NOW)
    deliveries = list(WebhookDelivery.objects.order_by("pk"))
    assert {d.endpoint.owner_id for d in deliveries} == {book["advisor"].pk}
    events = [d.event for d in deliveries]
    assert events[:2] == ["proposal.created", "proposal.approved"]
    parents = Order.objects.filter(proposal=proposal, parent__isnull=True)
    assert events.count("order.filled") == parents.filter(status=OrderStatus.FILLED).count() > 0
    filled = [json.loads(d.body) for d in deliveries if d.event == "order.filled"]
    assert {f["data"]["order"] for f in filled} == {
        o.client_order_id for o in parents.filter(status=OrderStatus.FILLED)
    }
    assert all(f["household"] == book["account"].household_id for f in filled)
    assert sorted(sent) == [d.pk for d in deliveries]  # each queued once, after its commit


def test_the_market_snapshot_reads_a_years_returns_and_volumes_only_when_asked(
    book, django_assert_num_queries
):
    market = MarketSnapshot(as_of=AS_OF)
    with django_assert_num_queries(2):  # the assets' symbols, then a year of closes
        volatility = market.volatility
    with django_assert_num_queries(0):
        assert market.return_matrix.shape == market.returns.shape
        assert list(market.column) == [str(s) for s in market.returns.columns]
    with django_assert_num_queries(1):
        assert market.volume["USA1"] == 2_000_000 and market.volume["USA2"] == 500_000
    # column by column, as each Series computes it
    assert volatility == {
        s: float(market.returns[s].std())
        if s in market.returns and market.returns[s].notna().sum() > 5
        else 0.01
        for s in market.assets
    }
    assert len(market.returns) > 200 and all(0 < v < 0.1 for v in volatility.values())


def test_a_run_with_nothing_to_trade_reads_no_return_history(book, monkeypatch):
    Recommendation.objects.update(is_current=False)  # no target: nothing to rebalance to

    def unexpected(**kwargs):
        raise AssertionError("the run read a year of prices it did not need")

    monkeypatch.setattr("advisor.services.proposals.price_frame", unexpected)
    report = proposals_run(as_of=AS_OF, now=NOW, account_ids=[book["account"].pk], harvest=False)
    assert report.accounts == 1 and report.proposals == 0 and report.errors == {}
