"""No N+1: each list and detail endpoint runs the same number of queries for one row as for
many."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from portfolios.models import ProposalTrade, RebalanceProposal
from portfolios.services import holding_transfer_in
from tests.api.world import NOW, api_client, build_world
from tests.factories import AssetFactory, ClientFactory, RiskProfileFactory
from trading.models import Fill, Order, PreTradeCheck

pytestmark = pytest.mark.django_db

ENDPOINTS = [
    "/api/v1/households/",
    "/api/v1/clients/",
    "/api/v1/accounts/",
    "/api/v1/lots/",
    "/api/v1/transactions/",
    "/api/v1/recommendations/",
    "/api/v1/proposals/",
    "/api/v1/orders/",
    "/api/v1/fills/",
    "/api/v1/signals/",
    "/api/v1/webhooks/",
    "/api/v1/households/{household}/positions/",
    "/api/v1/households/{household}/recommendation/",
    "/api/v1/proposals/{proposal}/",
    "/api/v1/orders/{order}/",
]


def grow(world, n):
    """n more of everything in household A (same advisor)."""
    side = world.a
    for k in range(n):
        asset = AssetFactory(symbol=f"GR{k:02d}")
        holding_transfer_in(
            account=side.account,
            asset=asset,
            quantity_=Decimal("1"),
            cost_basis=Decimal("10"),
            acquired_on=dt.date(2024, 1, 3),
        )
        ProposalTrade.objects.create(
            proposal=side.proposal,
            sequence=k + 2,
            asset=asset,
            side="sell",
            quantity=Decimal("1"),
            estimated_price=Decimal("95"),
            notional=Decimal("95.00"),
        )
        order = Order.objects.create(
            account=side.account,
            asset=asset,
            side="sell",
            quantity=Decimal("1"),
            client_order_id=f"grow-{k}",
            proposal=side.proposal,
            parent=side.order,
        )
        PreTradeCheck.objects.create(
            order=side.order,
            check_name=f"check{k}",
            outcome="pass",
            message="ok",
            limits_version=1,
            checked_at=NOW,
        )
        Fill.objects.create(
            order=order,
            execution_id=f"grow-exec-{k}",
            quantity=Decimal("1"),
            price=Decimal("95"),
            executed_at=NOW,
        )
        profile = RiskProfileFactory(client__advisor=side.advisor)
        RebalanceProposal.objects.filter(pk=side.proposal.pk).update(status="pending")
        ClientFactory(advisor=side.advisor, household=profile.client.household)


def counts(world):
    api = api_client(world.a.advisor)
    api.get("/api/v1/households/")  # the token is looked up once, then cached
    result = {}
    for template in ENDPOINTS:
        url = template.format(
            household=world.a.household.pk, proposal=world.a.proposal.pk, order=world.a.order.pk
        )
        with CaptureQueriesContext(connection) as queries:
            response = api.get(url)
        assert response.status_code == 200, (url, response.content)
        result[template] = len(queries)
    return result


def test_query_counts_do_not_grow_with_the_rows():
    world = build_world()
    few = counts(world)
    grow(world, 6)
    many = counts(world)
    print(few)
    assert many == few
    assert few["/api/v1/households/{household}/recommendation/"] <= 3
    assert few["/api/v1/households/{household}/positions/"] <= 7
