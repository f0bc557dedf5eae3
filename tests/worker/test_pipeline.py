"""The pipeline in-process: stages recorded, resumed after a crash without duplicates, views
reaching recommendations, metrics and admin."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db.models import Count
from django.utils import timezone

from advisor.services.clients import esg_preference_save
from advisor.services.recommendations import market_inputs
from portfolios.core.errors import Conflict
from portfolios.models import Recommendation
from signals.core.types import SignalKind
from signals.models import DetectedSignal, NewsItem, SentimentScore, ViewSnapshot
from signals.pipeline import stage_detect
from tests.factories import RiskProfileFactory
from tests.signals.pipeline_market import AS_OF, market_with_news, record_right_history
from worker import pipeline as worker_pipeline
from worker.models import PipelineRun, PipelineStage
from worker.pipeline import (
    STAGES,
    pipeline_run_create,
    pipeline_run_open,
    pipeline_stage_execute,
    run_pipeline,
)

pytestmark = pytest.mark.django_db

STAGE_NAMES = ["ingest", "score", "detect", "views", "recommendations", "proposals"]


@pytest.fixture
def market():
    assets = market_with_news()
    profile = RiskProfileFactory(
        score=6,
        equity_weight=Decimal("0.60"),
        bond_weight=Decimal("0.36"),
        cash_weight=Decimal("0.04"),
    )
    esg_preference_save(client=profile.client, min_esg_score=0, excluded_categories=[])
    return assets, profile.client.household


def test_the_stages_run_in_order():
    assert list(STAGES)[: len(STAGE_NAMES)] == STAGE_NAMES


def test_a_run_records_every_stage_and_its_views_reach_the_recommendation(market):
    _, household = market
    record_right_history(SignalKind.MACD)
    run = run_pipeline(now=AS_OF)
    assert run.status == PipelineRun.Status.SUCCEEDED and run.as_of == AS_OF
    stages = list(run.stages.order_by("position"))
    assert [s.name for s in stages] == list(STAGES)
    for stage in stages:
        assert stage.status == PipelineStage.Status.SUCCEEDED and stage.attempts == 1
        assert stage.started_at <= stage.finished_at and stage.duration_seconds >= 0
    counts = {s.name: s.counts for s in stages}
    assert counts["score"]["scored"] == NewsItem.objects.count()
    assert (
        counts["detect"]["signals"] == DetectedSignal.objects.exclude(run="right-history").count()
    )
    assert counts["recommendations"]["created"] == 1 and counts["recommendations"]["failed"] == 0
    assert set(DetectedSignal.objects.values_list("run", flat=True)) == {
        run.label,
        "right-history",
    }

    snapshot = ViewSnapshot.objects.get(as_of=AS_OF)
    recommendation = Recommendation.objects.get(household=household, is_current=True)
    assert recommendation.method == "mean_variance_bl"
    universe = set(market_inputs(as_of=AS_OF.date(), use_views=False).symbols)
    expected = set()
    for view in snapshot.views:
        legs = {s for s, w in zip(snapshot.symbols, view["p"], strict=True) if w}
        if legs <= universe and legs & set(recommendation.weights):
            expected.add(view["explanation"])
    applied = {v["explanation"] for v in recommendation.views}
    assert expected and applied == expected
    assert any(
        "Signal views tilted expected returns" in line for line in recommendation.explanation
    )


def test_an_interrupted_run_resumes_without_duplicating_rows(market):
    run = pipeline_run_create(now=AS_OF)
    pipeline_stage_execute(run_id=run.pk, stage="ingest")
    pipeline_stage_execute(run_id=run.pk, stage="score")
    # the detect stage crashed after writing its rows, before it could record success
    stage_detect(run=run.label, now=AS_OF)
    written = DetectedSignal.objects.count()
    long_ago = timezone.now() - dt.timedelta(minutes=30)
    PipelineStage.objects.filter(run=run, name="detect").update(
        status=PipelineStage.Status.RUNNING, attempts=1, started_at=long_ago
    )
    PipelineStage.objects.filter(run=run, name__in=["ingest", "score"]).update(
        started_at=long_ago, finished_at=long_ago
    )
    PipelineRun.objects.filter(pk=run.pk).update(started_at=long_ago)

    resumed = run_pipeline(now=AS_OF + dt.timedelta(hours=1))
    assert resumed.pk == run.pk and resumed.as_of == AS_OF
    assert resumed.status == PipelineRun.Status.SUCCEEDED
    attempts = dict(resumed.stages.values_list("name", "attempts"))
    assert attempts == {
        "ingest": 1,
        "score": 1,
        "detect": 2,
        "views": 1,
        "recommendations": 1,
        "proposals": 1,
    }
    assert DetectedSignal.objects.count() == written
    duplicated = (
        DetectedSignal.objects.values("asset", "kind", "as_of")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    )
    assert not duplicated.exists()
    assert SentimentScore.objects.count() == NewsItem.objects.count()
    assert PipelineRun.objects.count() == 1


def test_a_run_in_progress_is_not_started_twice(market):
    run = pipeline_run_create(now=AS_OF)
    PipelineStage.objects.filter(run=run, name="ingest").update(
        status=PipelineStage.Status.RUNNING, started_at=timezone.now()
    )
    assert pipeline_run_open(now=AS_OF) is None
    with pytest.raises(Conflict, match="in progress"):
        run_pipeline(now=AS_OF)
    # a later stage cannot jump the queue
    with pytest.raises(Conflict, match="waits for stage ingest"):
        pipeline_stage_execute(run_id=run.pk, stage="detect")


def test_a_run_interrupted_too_long_ago_is_abandoned(market):
    run = pipeline_run_create(now=AS_OF)
    PipelineRun.objects.filter(pk=run.pk).update(started_at=timezone.now() - dt.timedelta(days=1))
    fresh = pipeline_run_open(now=AS_OF)
    assert fresh.pk != run.pk
    run.refresh_from_db()
    assert run.status == PipelineRun.Status.FAILED and "not resumed" in run.error


def test_a_failing_stage_is_recorded_and_the_next_run_starts_afresh(market, monkeypatch):
    def broken(run):
        raise RuntimeError("detector exploded")

    monkeypatch.setitem(STAGES, "detect", broken)
    with pytest.raises(RuntimeError):
        run_pipeline(now=AS_OF)
    run = PipelineRun.objects.get()
    assert run.status == PipelineRun.Status.FAILED and "detector exploded" in run.error
    status = dict(run.stages.values_list("name", "status"))
    assert status == {
        "ingest": "succeeded",
        "score": "succeeded",
        "detect": "failed",
        "views": "pending",
        "recommendations": "pending",
        "proposals": "pending",
    }
    assert "RuntimeError: detector exploded" in run.stages.get(name="detect").error
    monkeypatch.undo()
    second = run_pipeline(now=AS_OF)
    assert second.pk != run.pk and second.status == PipelineRun.Status.SUCCEEDED


def test_metrics_show_stage_timings_runs_and_the_last_success(market, client):
    before = worker_pipeline.PIPELINE_RUNS.labels(status="succeeded")._value.get()
    run = run_pipeline(now=AS_OF)
    body = client.get("/metrics").content.decode()
    for stage in STAGE_NAMES:
        assert f'pipeline_stage_seconds_count{{stage="{stage}"}}' in body
    assert 'pipeline_runs_total{status="succeeded"}' in body
    assert worker_pipeline.PIPELINE_RUNS.labels(status="succeeded")._value.get() == before + 1
    line = next(ln for ln in body.splitlines() if ln.startswith("pipeline_last_success_timestamp "))
    assert float(line.split()[1]) == pytest.approx(run.finished_at.timestamp())


def test_the_admin_shows_runs_and_their_stages(market, client, django_user_model):
    run = run_pipeline(now=AS_OF)
    admin = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(admin)
    listing = client.get("/admin/worker/pipelinerun/?status=succeeded")
    assert listing.status_code == 200 and b"6/6" in listing.content
    page = client.get(f"/admin/worker/pipelinerun/{run.pk}/change/")
    assert page.status_code == 200
    for name in STAGE_NAMES:
        assert name.encode() in page.content
    assert client.get("/admin/worker/pipelinestage/?name=detect").status_code == 200
    assert client.get("/admin/signals/detectedsignal/?kind=rsi").status_code == 200
    assert client.get("/admin/signals/hitrateestimate/").status_code == 200


def test_the_command_reports_each_stage(market, capsys):
    call_command("run_pipeline", "--now", AS_OF.isoformat(), "--no-progress")
    out = capsys.readouterr().out
    assert "succeeded" in out
    for name in STAGE_NAMES:
        assert name in out
    assert "scored=" in out and "signals=" in out
