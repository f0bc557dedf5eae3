"""The signal pipeline as a Celery chain in a real ``celery worker`` against Redis and the test
database: the beat task runs every stage, and resumes an interrupted run without duplicates."""

import datetime as dt
import subprocess
import time
import uuid
from decimal import Decimal

import pytest
from django.db.models import Count
from django.utils import timezone

from advisor.services.clients import esg_preference_save
from portfolios.models import Recommendation
from signals.models import DetectedSignal, NewsItem, SentimentScore, ViewSnapshot
from signals.pipeline import stage_detect
from tests.celery_workers import running_celery_worker, worker_log_tail
from tests.factories import RiskProfileFactory
from tests.signals.pipeline_market import AS_OF, market_with_news
from worker.models import PipelineRun, PipelineStage
from worker.pipeline import STAGES, pipeline_run_create, pipeline_stage_execute
from worker.tasks import pipeline_start

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.worker,
    pytest.mark.xdist_group("celery"),
]


@pytest.fixture(scope="module")
def pipeline_worker(django_db_setup, redis_url):
    """One worker process for the module, consuming a queue of its own."""
    queue = f"test-pipeline-{uuid.uuid4().hex[:8]}"
    with running_celery_worker(queue=queue, redis_url=redis_url, name="pipeline") as process:
        yield queue, process


@pytest.fixture
def market():
    market_with_news()
    profile = RiskProfileFactory(
        score=6,
        equity_weight=Decimal("0.60"),
        bond_weight=Decimal("0.36"),
        cash_weight=Decimal("0.04"),
    )
    esg_preference_save(client=profile.client, min_esg_score=0, excluded_categories=[])
    return profile.client.household


def finished_run(run_id: int, process: subprocess.Popen, timeout: float = 150) -> PipelineRun:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        run = PipelineRun.objects.get(pk=run_id)
        if run.status != PipelineRun.Status.RUNNING:
            return run
        time.sleep(0.25)
    pytest.fail(f"the worker did not finish run {run_id}; its log:\n{worker_log_tail(process)}")


def started_run(result, process: subprocess.Popen) -> int:
    deadline = time.monotonic() + 90
    while not result.ready() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)
    if not result.ready():
        pytest.fail(f"the worker did not start the pipeline; its log:\n{worker_log_tail(process)}")
    return result.get(timeout=1)


def test_the_beat_task_runs_every_stage_in_the_worker(pipeline_worker, market):
    queue, process = pipeline_worker
    result = pipeline_start.apply_async(
        kwargs={"now": AS_OF.isoformat(), "queue": queue}, queue=queue
    )
    run = finished_run(started_run(result, process), process)
    assert run.status == PipelineRun.Status.SUCCEEDED, run.error
    assert run.as_of == AS_OF and run.trigger == PipelineRun.Trigger.SCHEDULE
    stages = dict(run.stages.values_list("name", "status"))
    assert stages == {name: PipelineStage.Status.SUCCEEDED for name in STAGES}
    assert SentimentScore.objects.count() == NewsItem.objects.count()
    assert DetectedSignal.objects.filter(run=run.label).exists()
    assert ViewSnapshot.objects.filter(as_of=AS_OF).exists()
    assert Recommendation.objects.filter(household=market, is_current=True).exists()


def test_the_worker_resumes_an_interrupted_run_without_duplicates(pipeline_worker, market):
    queue, process = pipeline_worker
    run = pipeline_run_create(now=AS_OF)
    pipeline_stage_execute(run_id=run.pk, stage="ingest")
    pipeline_stage_execute(run_id=run.pk, stage="score")
    scores = SentimentScore.objects.count()
    # the detect stage wrote its rows, then its worker died before recording success
    stage_detect(run=run.label, now=AS_OF)
    signals = DetectedSignal.objects.count()
    long_ago = timezone.now() - dt.timedelta(minutes=30)
    PipelineStage.objects.filter(run=run, name="detect").update(
        status=PipelineStage.Status.RUNNING, attempts=1, started_at=long_ago
    )
    PipelineStage.objects.filter(run=run, name__in=["ingest", "score"]).update(
        started_at=long_ago, finished_at=long_ago
    )
    PipelineRun.objects.filter(pk=run.pk).update(started_at=long_ago)

    later = (AS_OF + dt.timedelta(minutes=30)).isoformat()
    result = pipeline_start.apply_async(kwargs={"now": later, "queue": queue}, queue=queue)
    assert started_run(result, process) == run.pk
    resumed = finished_run(run.pk, process)
    assert resumed.status == PipelineRun.Status.SUCCEEDED, resumed.error
    assert resumed.as_of == AS_OF
    attempts = dict(resumed.stages.values_list("name", "attempts"))
    assert attempts["ingest"] == attempts["score"] == 1 and attempts["detect"] == 2
    assert DetectedSignal.objects.count() == signals
    assert not (
        DetectedSignal.objects.values("asset", "kind", "as_of")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .exists()
    )
    assert SentimentScore.objects.count() == scores == NewsItem.objects.count()
    assert PipelineRun.objects.count() == 1
