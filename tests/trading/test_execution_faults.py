"""Exactly once under faults: a broker that times out after accepting, a broker that is down, a
worker killed in the middle of an execution. Each order exists once at the broker and once in
the ledger."""

import datetime as dt
import os
import signal
import time
import uuid
from decimal import Decimal

import pytest

from portfolios.models import ProposalStatus, Transaction
from portfolios.selectors import latest_prices
from tests.celery_workers import running_celery_worker
from tests.trading.fake_alpaca import _Position, running_fake_alpaca
from tests.trading.proposals import NOW, approved_proposal
from trading.brokers.alpaca import AlpacaBroker
from trading.brokers.base import BrokerRejected
from trading.brokers.simulated import SimulatedBroker
from trading.models import Fill, Order, OrderStatus, SimulatedExchangeOrder
from trading.services import (
    TERMINAL,
    fills_sync,
    orders_release_due,
    proposal_execute,
    proposal_orders_create,
)

D = Decimal


def alpaca_for(fake):
    return AlpacaBroker(
        api_key=fake.api_key,
        secret_key=fake.secret_key,
        paper=True,
        base_url=fake.base_url,
        timeout=0.5,
    )


def fake_market(fake):
    for price in latest_prices().values():
        fake.add_asset(price.symbol, price.close)


def fill_everything(fake):
    for order in Order.objects.filter(
        parent__isnull=False, status=OrderStatus.ACCEPTED
    ).select_related("asset"):
        fake_order = fake.order(order.client_order_id)
        price = fake.assets[order.asset.symbol].price
        if order.limit_price is not None and price > order.limit_price:
            price = order.limit_price
        fake.fill(order.client_order_id, fake_order.remaining, price)


def assert_exactly_once(fake, proposal):
    children = list(Order.objects.filter(proposal=proposal, parent__isnull=False))
    at_broker = [c.client_order_id for c in children if c.client_order_id in fake._by_client_id]
    assert len(at_broker) == len(set(at_broker))
    assert fake.order_count == len([c for c in children if c.status != OrderStatus.BLOCKED])
    fills = Fill.objects.filter(order__proposal=proposal)
    assert Transaction.objects.filter(fill__in=fills).count() == fills.count()


@pytest.mark.django_db
def test_a_broker_timeout_after_acceptance_never_duplicates_the_order():
    proposal = approved_proposal()
    with running_fake_alpaca(cash=D("1000000")) as fake:
        fake.set_time(NOW)
        fake_market(fake)
        # the broker holds USA1 for the sells
        fake.add_asset("USA1", latest_prices()[proposal.trades.get(side="sell").asset_id].close)
        broker = alpaca_for(fake)
        proposal_orders_create(proposal_id=proposal.pk, now=NOW)
        sell = Order.objects.get(proposal=proposal, parent__isnull=False, side="sell")
        fake.positions["USA1"] = _Position(qty=D("300"), cost_basis=D("24000"))
        fake.delay_next_submission(2.0)  # accepted, but the answer comes after the client's timeout
        orders_release_due(now=NOW, broker=broker)
        sell.refresh_from_db()
        assert sell.status == OrderStatus.SUBMITTING and "timed out" in sell.last_error
        assert fake.order_count == 1  # the broker did accept it
        time.sleep(2.2)
        # the next round finds the order at the broker by its client order id instead of resending
        orders_release_due(now=NOW + dt.timedelta(seconds=31), broker=broker)
        sell.refresh_from_db()
        assert sell.status == OrderStatus.ACCEPTED and fake.order_count == 1
        fill_everything(fake)
        fills_sync(now=NOW + dt.timedelta(minutes=1), broker=broker)
        for _ in range(3):  # the buys are released once the sell has filled
            orders_release_due(now=NOW + dt.timedelta(minutes=2), broker=broker)
            fill_everything(fake)
            fills_sync(now=NOW + dt.timedelta(minutes=3), broker=broker)
        proposal.refresh_from_db()
        assert proposal.status == ProposalStatus.DONE, proposal.status
        assert_exactly_once(fake, proposal)


@pytest.mark.django_db
def test_orders_wait_while_the_broker_is_down_and_go_once_it_is_back():
    proposal = approved_proposal()
    with running_fake_alpaca(cash=D("1000000")) as fake:
        fake.set_time(NOW)
        fake_market(fake)
        fake.positions["USA1"] = _Position(qty=D("300"), cost_basis=D("24000"))
        broker = alpaca_for(fake)
        proposal_orders_create(proposal_id=proposal.pk, now=NOW)
        fake.stop()
        orders_release_due(now=NOW, broker=broker)
        sell = Order.objects.get(proposal=proposal, parent__isnull=False, side="sell")
        assert sell.status == OrderStatus.SUBMITTING  # recorded, waiting for the broker
        assert not Fill.objects.exists()
        fake.restart()
        orders_release_due(now=NOW + dt.timedelta(seconds=31), broker=broker)
        sell.refresh_from_db()
        assert sell.status == OrderStatus.ACCEPTED and fake.order_count == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
@pytest.mark.xdist_group("celery")
def test_a_worker_killed_mid_execution_leaves_each_order_once(redis_url):
    from trading.services import risk_limit_current, risk_limit_update
    from worker.tasks import trading_execute_proposal, trading_tick

    # the worker runs on the real clock, which may be outside market hours
    risk_limit_update(
        limit_id=risk_limit_current().pk, changes={"allow_outside_hours": True}, actor_id=None
    )
    proposal = approved_proposal()
    n_trades = proposal.trades.count()
    assert n_trades >= 3
    queue = f"test-{uuid.uuid4().hex[:8]}"
    options = {
        "queue": queue,
        "redis_url": redis_url,
        "SIMULATED_BROKER_LATENCY_MS": "700",
        "CELERY_VISIBILITY_TIMEOUT": "3",
    }
    with running_celery_worker(name="first", **options) as first:
        trading_execute_proposal.apply_async(args=[proposal.pk], queue=queue)
        deadline = time.monotonic() + 60
        while SimulatedExchangeOrder.objects.count() < 1 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert SimulatedExchangeOrder.objects.count() >= 1, "the worker never reached the exchange"
        os.kill(first.pid, signal.SIGKILL)  # mid-execution: some orders sent, others not
        first.wait(timeout=10)
    proposal.refresh_from_db()
    assert proposal.status == ProposalStatus.EXECUTING
    with running_celery_worker(name="second", **options):  # the unacknowledged task comes back
        deadline = time.monotonic() + 150
        next_tick = time.monotonic()
        while time.monotonic() < deadline:
            proposal.refresh_from_db()
            if proposal.status not in (ProposalStatus.APPROVED, ProposalStatus.EXECUTING):
                break
            if time.monotonic() >= next_tick:
                # the beat's execution loop (every minute in production), faster here: it books
                # the fills of orders the killed worker sent but never heard back about
                trading_tick.apply_async(queue=queue)
                next_tick = time.monotonic() + 3
            time.sleep(0.5)
    children = Order.objects.filter(proposal=proposal, parent__isnull=False)
    assert proposal.status == ProposalStatus.DONE, (
        proposal.status,
        list(children.values_list("client_order_id", "status", "submitted_at", "last_error")),
        list(SimulatedExchangeOrder.objects.values_list("client_order_id", "status")),
    )
    assert children.count() == n_trades
    assert SimulatedExchangeOrder.objects.count() == n_trades
    assert Fill.objects.count() == Fill.objects.values("execution_id").distinct().count()
    assert Transaction.objects.filter(kind__in=["buy", "sell"]).count() == Fill.objects.count()


class _RejectingExchange(SimulatedBroker):
    """A venue that refuses every order for good (not a wash trade)."""

    def submit_order(self, intent, *, now):
        raise BrokerRejected("the venue refused the order", code="not_tradable")


@pytest.mark.django_db(transaction=True)
def test_orders_the_broker_rejects_close_their_parents_and_the_proposal():
    # outside a test transaction, as in a worker: the rejection settles its parent and proposal
    # under their row locks, which need a transaction of their own
    proposal = approved_proposal()
    report = proposal_execute(proposal_id=proposal.pk, now=NOW, broker=_RejectingExchange())
    children = Order.objects.filter(proposal=proposal, parent__isnull=False)
    rejected = children.filter(status=OrderStatus.REJECTED)
    assert rejected.exists()
    assert all("not_tradable" in error for error in rejected.values_list("last_error", flat=True))
    parents = Order.objects.filter(pk__in=rejected.values_list("parent_id", flat=True))
    assert not parents.exclude(status__in=TERMINAL).exists()
    proposal.refresh_from_db()
    assert report.status == proposal.status == ProposalStatus.FAILED
    assert not Fill.objects.exists()
