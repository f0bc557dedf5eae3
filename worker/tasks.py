"""Celery tasks. Each is thin: ids and primitives in, one service call, a small result out."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.utils import timezone

from portfolios.clock import firm_today
from portfolios.services import account_valuations_record
from worker.celery import app


@app.task(name="worker.tasks.record_valuations")
def record_valuations(on: str | None = None) -> int:
    """Store every active account's value at the close of ``on`` (ISO date; default today)."""
    day = date.fromisoformat(on) if on else firm_today()
    return account_valuations_record(on=day)


@app.task(name="worker.tasks.refresh_recommendations")
def refresh_recommendations(
    on: str | None = None, household_ids: list[int] | None = None
) -> dict[str, object]:
    """Recompute recommendations (all households, or the given ones) with prices up to ``on``."""
    from advisor.services.recommendations import recommendations_refresh

    day = date.fromisoformat(on) if on else firm_today()
    report = recommendations_refresh(as_of=day, household_ids=household_ids)
    return {
        "created": report.created,
        "failed": report.failed,
        "distinct_solves": report.distinct_solves,
    }


@app.task(name="worker.tasks.trading_execute_proposal")
def trading_execute_proposal(proposal_id: int) -> dict[str, object]:
    """Create an approved proposal's orders (once) and send what is due."""
    from trading.services import proposal_execute

    report = proposal_execute(proposal_id=proposal_id)
    return {"proposal": report.proposal_id, "status": report.status, "orders": report.orders}


@app.task(name="worker.tasks.trading_tick")
def trading_tick() -> dict[str, int]:
    """Release due order slices and book new fills (every minute)."""
    from trading.services import trading_tick as tick

    return tick()


@app.task(name="worker.tasks.trading_reconcile")
def trading_reconcile() -> dict[str, object]:
    """Compare orders and positions with the broker's and repair what can be repaired."""
    from trading.services import reconcile

    result = reconcile(now=timezone.now())
    drift = result["position_drift"]
    return {
        "resolved": result["resolved"],
        "booked": result["booked"],
        "drift": len(drift) if isinstance(drift, dict) else 0,
    }


@app.task(name="worker.tasks.proposals_batch")
def proposals_batch(account_ids: list[int], on: str) -> dict[str, object]:
    """Check one batch of accounts for harvests, drift and cash flows."""
    from advisor.services.proposals import proposals_run

    report = proposals_run(
        as_of=date.fromisoformat(on), now=timezone.now(), account_ids=account_ids
    )
    return {
        "accounts": report.accounts,
        "proposals": report.proposals,
        "harvests": report.harvests,
        "errors": {str(k): v for k, v in report.errors.items()},
    }


@app.task(name="worker.tasks.proposals_summary")
def proposals_summary(results: list[dict[str, object]]) -> dict[str, object]:
    """Gather the batches of the daily run (the chord's callback)."""
    counts = {"accounts": 0, "proposals": 0, "harvests": 0}
    errors: dict[str, object] = {}
    for result in results:
        for key in counts:
            counts[key] += int(str(result[key]))
        errors.update(dict(result["errors"]))  # type: ignore[call-overload]
    return {**counts, "errors": errors}


PROPOSAL_BATCH_SIZE = 200


@app.task(name="worker.tasks.proposals_daily")
def proposals_daily(
    on: str | None = None, batch_size: int = PROPOSAL_BATCH_SIZE, queue: str | None = None
) -> str:
    """Fan the daily account check out over the workers: a chord of batches of accounts, so
    adding workers (on more machines) shortens it; returns the chord's result id."""
    from celery import chord

    from portfolios.models import Account

    day = on or firm_today().isoformat()
    ids = list(Account.objects.filter(is_active=True).order_by("pk").values_list("pk", flat=True))
    batches = [ids[i : i + batch_size] for i in range(0, len(ids), batch_size)]
    options = {"queue": queue} if queue else {}
    header = [proposals_batch.s(batch, day).set(**options) for batch in batches]
    result = chord(header)(proposals_summary.s().set(**options))
    return str(result.id)


@app.task(name="worker.tasks.pipeline_start")
def pipeline_start(now: str | None = None, queue: str | None = None) -> int | None:
    """Open the next signal-pipeline run as of ``now`` (ISO time; default now), resuming an
    interrupted one, and enqueue its stages (on ``queue`` if given). Returns the run's id, or
    None while another run is in progress."""
    from worker.pipeline import pipeline_schedule

    moment = datetime.fromisoformat(now) if now else timezone.now()
    run = pipeline_schedule(now=moment, queue=queue)
    return run.pk if run is not None else None


@app.task(name="worker.tasks.pipeline_stage")
def pipeline_stage(run_id: int, stage: str) -> dict[str, object]:
    """Run one stage of a pipeline run (nothing if it already succeeded)."""
    from worker.pipeline import pipeline_stage_execute

    record = pipeline_stage_execute(run_id=run_id, stage=stage)
    return {"run": run_id, "stage": stage, "status": record.status, "counts": record.counts}


@app.task(name="worker.tasks.webhook_deliver", bind=True)
def webhook_deliver(self: Any, delivery_id: int) -> dict[str, object]:
    """Send one webhook delivery; on failure, queue the next attempt after its backoff.

    In the embedded mode (tasks run in-process) a failed attempt is not re-queued at once (that
    would retry immediately, in the request); the sweep sends it when it is due.
    """
    from advisor.webhooks import webhook_delivery_attempt

    outcome = webhook_delivery_attempt(delivery_id=delivery_id)
    if outcome.retry_in is not None and not self.app.conf.task_always_eager:
        webhook_deliver.apply_async(args=[delivery_id], countdown=outcome.retry_in)
    return {
        "delivery": delivery_id,
        "status": outcome.status,
        "attempted": outcome.attempted,
        "response_code": outcome.response_code,
        "retry_in": outcome.retry_in,
    }


@app.task(name="worker.tasks.webhook_deliveries_sweep")
def webhook_deliveries_sweep() -> int:
    """Queue webhook deliveries that are due but not queued (every minute)."""
    from advisor.webhooks import webhook_deliveries_sweep as sweep

    return sweep()


@app.task(name="worker.tasks.idempotency_keys_purge")
def idempotency_keys_purge() -> int:
    """Delete API idempotency keys older than 24 hours (hourly)."""
    from advisor.api.idempotency import idempotency_keys_purge as purge

    return purge()


# --- Backtests (queue "backtests") ------------------------------------------------------------


@app.task(name="worker.tasks.backtest_start")
def backtest_start(run_id: int, queue: str | None = None) -> str:
    """Fan a backtest study out over the workers: a chord of its replays."""
    from backtests.services import backtest_workflow

    return backtest_workflow(run_id=run_id, queue=queue)


@app.task(name="worker.tasks.backtest_job", soft_time_limit=3300, time_limit=3600)
def backtest_job(result_id: int) -> int:
    """Replay one strategy over one window, in a database of its own."""
    from backtests.services import backtest_result_execute

    return backtest_result_execute(result_id=result_id)


@app.task(name="worker.tasks.backtest_select")
def backtest_select(results: list[int], run_id: int, queue: str | None = None) -> str | None:
    """After a walk-forward study's training windows: choose each fold's parameters and fan the
    test windows out (the chord's callback)."""
    from backtests.services import backtest_test_workflow

    return backtest_test_workflow(run_id=run_id, queue=queue)


@app.task(name="worker.tasks.backtest_finish")
def backtest_finish(results: list[int], run_id: int) -> dict[str, object]:
    """Gather a study's replays into its figures (the chord's callback)."""
    from backtests.services import backtest_run_finish

    run = backtest_run_finish(run_id=run_id)
    return {"run": run.pk, "status": run.status, "results": len(results)}


@app.task(name="worker.tasks.household_profile_changed")
def household_profile_changed(household_id: int) -> dict[str, object]:
    """A profile changed: new recommendation and proposals for the household's accounts."""
    from advisor.services.cash_flows import household_profile_changed as changed

    result = changed(household_id=household_id)
    return {
        "recommendation": result.recommendation.pk,
        "proposals": [p.pk for p in result.proposals],
    }
