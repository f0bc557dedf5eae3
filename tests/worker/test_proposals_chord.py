"""The daily proposal run fans out as a chord of account batches over real workers."""

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from celery.result import AsyncResult

from advisor.services.clients import esg_preference_save
from advisor.services.recommendations import recommendations_refresh
from portfolios.models import RebalanceProposal
from portfolios.services import holding_transfer_in
from tests.advisor.services.market import AS_OF, build_market
from tests.celery_workers import running_celery_worker
from tests.factories import AccountFactory, RiskProfileFactory
from worker.tasks import proposals_daily

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.worker,
    pytest.mark.xdist_group("celery"),
]
D = Decimal


def test_the_daily_run_is_a_chord_of_batches(redis_url):
    assets = {a.symbol: a for a in build_market()}
    for _ in range(3):
        profile = RiskProfileFactory(
            score=6, equity_weight=D("0.60"), bond_weight=D("0.36"), cash_weight=D("0.04")
        )
        esg_preference_save(client=profile.client, min_esg_score=0, excluded_categories=[])
        account = AccountFactory(household=profile.client.household, cash=D("0.00"))
        holding_transfer_in(
            account=account,
            asset=assets["USA1"],
            quantity_=D("100"),
            cost_basis=D("9000"),
            acquired_on=dt.date(2024, 1, 2),
        )
    recommendations_refresh(as_of=AS_OF)
    queue = f"test-{uuid.uuid4().hex[:8]}"
    with (
        running_celery_worker(queue=queue, redis_url=redis_url, name="w0"),
        running_celery_worker(queue=queue, redis_url=redis_url, name="w1"),
    ):
        chord_id = proposals_daily.apply_async(
            kwargs={"on": AS_OF.isoformat(), "batch_size": 1, "queue": queue}, queue=queue
        ).get(timeout=60)
        summary = AsyncResult(chord_id, app=proposals_daily.app).get(timeout=120)
    assert summary["accounts"] == 3 and summary["proposals"] == 3 and summary["errors"] == {}
    assert RebalanceProposal.objects.filter(status="pending").count() == 3
