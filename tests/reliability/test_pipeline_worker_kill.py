"""The Celery worker killed (SIGKILL) in the middle of a signal-pipeline run and started again:
the run completes, and nothing is duplicated.

The killed worker never acknowledges the stage it was running (``acks_late``); Redis hands the
message to the new worker once the visibility timeout (3 s here) passes, the stage found
"running" is redone, and the rest of the chain follows.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from decimal import Decimal

import pytest
from celery import Celery
from django.db.models import Count

from advisor.services.clients import esg_preference_save
from portfolios.models import Recommendation
from signals.models import DetectedSignal, NewsItem, SentimentScore, ViewSnapshot
from tests import conftest
from tests.celery_workers import running_celery_worker, worker_log_tail
from tests.factories import RiskProfileFactory
from tests.reliability.redis_server import RedisServer
from tests.signals.pipeline_market import AS_OF, market_with_news
from worker.models import PipelineRun, PipelineStage
from worker.pipeline import STAGES

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.worker,
    pytest.mark.slow,
    pytest.mark.xdist_group("celery"),
]


def test_a_worker_killed_mid_pipeline_leaves_a_complete_run_without_duplicates():
    market_with_news()
    profile = RiskProfileFactory(
        score=6,
        equity_weight=Decimal("0.60"),
        bond_weight=Decimal("0.36"),
        cash_weight=Decimal("0.04"),
    )
    esg_preference_save(client=profile.client, min_esg_score=0, excluded_categories=[])
    household = profile.client.household

    queue = f"test-kill-{uuid.uuid4().hex[:8]}"
    # A Redis of its own: redelivery depends on the broker's unacked-restore lock, which other
    # runs' killed workers on the shared Redis could be holding.
    broker = RedisServer()
    broker.start()
    log = conftest.ARTIFACTS / f"pipeline-kill-{queue}.log"
    options = {
        "queue": queue,
        "redis_url": broker.url,
        "log": log,
        "CELERY_VISIBILITY_TIMEOUT": "3",
    }
    # not the current app: the rest of the suite must keep the project's (its result backend)
    sender = Celery("pipeline-kill", broker=broker.url, set_as_current=False)
    killed_during = None
    try:
        with running_celery_worker(name="first", **options) as first:
            sender.send_task(
                "worker.tasks.pipeline_start",
                kwargs={"now": AS_OF.isoformat(), "queue": queue},
                queue=queue,
            )
            # kill as soon as a stage after the first is running: the pipeline is half done
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and first.poll() is None:
                running = (
                    PipelineStage.objects.filter(
                        status=PipelineStage.Status.RUNNING, position__gte=2
                    )
                    .values_list("name", flat=True)
                    .first()
                )
                if running:
                    os.kill(first.pid, signal.SIGKILL)
                    killed_during = running
                    break
                time.sleep(0.02)
            assert killed_during, (
                f"the worker never got past the first stage: {worker_log_tail(first)}"
            )
            first.wait(timeout=10)
        run = PipelineRun.objects.get()
        assert run.status == PipelineRun.Status.RUNNING  # interrupted, not finished
        # Kombu restores unacknowledged messages older than the visibility timeout when a worker
        # starts, then only every 100 s: start the new worker once the timeout has passed.
        time.sleep(4)

        with running_celery_worker(name="second", **options) as second:
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline and second.poll() is None:
                run.refresh_from_db()
                if run.status != PipelineRun.Status.RUNNING:
                    break
                time.sleep(0.25)
            assert run.status != PipelineRun.Status.RUNNING, worker_log_tail(second)
    finally:
        broker.stop()

    assert run.status == PipelineRun.Status.SUCCEEDED, run.error
    stages = {s.name: s for s in run.stages.all()}
    assert {name: s.status for name, s in stages.items()} == {
        name: PipelineStage.Status.SUCCEEDED for name in STAGES
    }
    assert stages[killed_during].attempts == 2  # redone after the kill
    assert all(s.attempts == 1 for name, s in stages.items() if name != killed_during)
    assert PipelineRun.objects.count() == 1
    assert SentimentScore.objects.count() == NewsItem.objects.count()
    assert not (
        SentimentScore.objects.values("news", "backend").annotate(n=Count("id")).filter(n__gt=1)
    ).exists()
    assert not (
        DetectedSignal.objects.values("asset", "kind", "as_of")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    ).exists()
    assert ViewSnapshot.objects.filter(as_of=AS_OF).count() == 1
    assert Recommendation.objects.filter(household=household, is_current=True).count() == 1
