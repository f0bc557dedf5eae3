"""A real ``celery worker`` process against Redis runs a task end to end on the test database."""

import datetime as dt
import time
import uuid
from decimal import Decimal

import pytest

from portfolios.models import AccountValuation
from portfolios.services import position_sync
from tests.celery_workers import running_celery_worker
from tests.factories import PriceBarFactory, TaxLotFactory
from worker.tasks import record_valuations

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.worker,
    pytest.mark.xdist_group("celery"),
]


def test_worker_runs_a_task_end_to_end(redis_url):
    lot = TaxLotFactory(quantity=Decimal("4"), original_quantity=Decimal("4"))
    position_sync(account_id=lot.account_id, asset_ids=[lot.asset_id])
    PriceBarFactory(asset=lot.asset, date=dt.date(2024, 3, 1), close=Decimal("25.50"))
    queue = f"test-{uuid.uuid4().hex[:8]}"
    with running_celery_worker(queue=queue, redis_url=redis_url) as process:
        result = record_valuations.apply_async(kwargs={"on": "2024-03-01"}, queue=queue)
        deadline = time.monotonic() + 90
        while not result.ready() and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.2)
        assert result.ready(), "the worker did not finish the task (see artifacts/celery-*.log)"
    assert result.get(timeout=1) == 1
    valuation = AccountValuation.objects.get(account=lot.account, date=dt.date(2024, 3, 1))
    assert valuation.market_value == Decimal("102.00")
    assert valuation.cash == lot.account.cash
