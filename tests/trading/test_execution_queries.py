"""Executing a proposal costs a bounded number of statements, its report counts the slices as
they stand, and its buys are released in one statement once its sells have finished."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from portfolios.models import ProposalStatus
from tests.trading.proposals import NOW, approved_proposal
from trading.brokers.simulated import SimulatedBroker
from trading.models import Order, OrderStatus
from trading.services import _release_held_buys, proposal_execute, proposal_orders_create

pytestmark = pytest.mark.django_db


def test_a_proposal_executes_in_a_bounded_number_of_statements():
    proposal = approved_proposal()
    sides = set(proposal.trades.values_list("side", flat=True))
    assert sides == {"buy", "sell"}

    with CaptureQueriesContext(connection) as queries:
        report = proposal_execute(proposal_id=proposal.pk, now=NOW, broker=SimulatedBroker())

    assert report.status == ProposalStatus.DONE
    # one sell and four buys, each slice checked, sent, filled and booked; the parents and the
    # proposal settled (savepoints included)
    assert len(queries) <= 214


def test_the_report_counts_the_slices_as_they_stand():
    proposal = approved_proposal()

    report = proposal_execute(proposal_id=proposal.pk, now=NOW, broker=SimulatedBroker())

    slices = Order.objects.filter(proposal=proposal, parent__isnull=False)
    assert report.orders == slices.count() > 0
    assert (
        report.submitted
        == slices.exclude(status__in=[OrderStatus.PENDING, OrderStatus.HELD]).count()
    )
    assert report.blocked == slices.filter(status=OrderStatus.BLOCKED).count()


def test_held_buys_are_released_in_one_statement_once_the_sells_have_finished():
    proposal = approved_proposal()
    proposal_orders_create(proposal_id=proposal.pk, now=NOW)
    slices = Order.objects.filter(proposal=proposal, parent__isnull=False)
    buys = slices.filter(side="buy")
    assert set(buys.values_list("status", flat=True)) == {OrderStatus.HELD}
    # a buy deferred to a later session stays held whatever the sells do
    deferred = buys.first()
    Order.objects.filter(pk=deferred.pk).update(not_before=NOW + dt.timedelta(hours=18))

    with CaptureQueriesContext(connection) as queries:
        _release_held_buys(proposal.pk)
    assert len(queries) == 1
    assert set(buys.values_list("status", flat=True)) == {OrderStatus.HELD}  # sells still open

    slices.filter(side="sell").update(status=OrderStatus.FILLED)
    _release_held_buys(proposal.pk)

    assert set(buys.exclude(pk=deferred.pk).values_list("status", flat=True)) == {
        OrderStatus.PENDING
    }
    deferred.refresh_from_db()
    assert deferred.status == OrderStatus.HELD


def test_a_round_reads_the_exclusions_of_all_its_proposals_in_one_query():
    from portfolios.models import RebalanceProposal, Recommendation
    from trading.services import _CheckRound

    first = approved_proposal()
    recommendation = Recommendation.objects.get(pk=first.recommendation_id)
    recommendation.diagnostics = {**recommendation.diagnostics, "excluded": ["XOM", "CVX"]}
    recommendation.save(update_fields=["diagnostics"])
    second = RebalanceProposal.objects.get(pk=first.pk)
    second.pk = None  # a closed copy without a recommendation: nothing excluded
    second.recommendation = None
    second.status = ProposalStatus.DONE
    second.save()

    with CaptureQueriesContext(connection) as queries:
        round_ = _CheckRound.start(proposal_ids={first.pk, second.pk})
    assert sum("rebalanceproposal" in q["sql"] for q in queries) == 1
    order = Order(proposal_id=first.pk)
    assert round_.excluded_for(order) == ["XOM", "CVX"]
    assert round_.excluded_for(Order(proposal_id=second.pk)) == []
    assert round_.excluded_for(Order()) == []
