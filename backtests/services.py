"""Backtest studies: create a run, replay its jobs (here or on Celery workers), gather the figures.

A run's replays are independent, so they run as a Celery group gathered by a chord
(``worker.tasks.backtest_*``); a walk-forward study is two chords: the training windows, then (once
each fold's parameters are chosen) the test windows. Every replay happens in a database of its
own (:func:`backtests.isolation.run_isolated`). Each step is safe to run twice: a result is
stored only while it is pending, test windows are created once per key, and a run finishes once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd
from django.db import transaction
from django.utils import timezone

from backtests.core import metrics
from backtests.core.config import AccountSetup, BacktestJob, StrategyConfig, strategy_title
from backtests.core.walkforward import (
    WalkForwardSpec,
    choose,
    parameter_grid,
    rolling_folds,
    stitch,
)
from backtests.isolation import Progress, run_isolated
from backtests.market import MarketData, MarketSource, market_from_file
from backtests.models import (
    BacktestResult,
    BacktestRun,
    ResultRole,
    ResultStatus,
    RunKind,
    RunStatus,
)
from portfolios.clock import firm_today
from portfolios.core.errors import Conflict, InvalidInput, NotFound

logger = logging.getLogger(__name__)

#: The measures of the comparison table, in order.
TABLE_METRICS = (
    "cagr",
    "volatility",
    "sharpe",
    "sortino",
    "calmar",
    "max_drawdown",
    "turnover",
    "trading_costs",
    "taxes_paid",
    "liquidation_tax",
    "loss_carryforward_end",
    "after_tax_cagr",
    "tracking_error",
    "harvests",
    "realised_short",
    "realised_long",
)


@lru_cache(maxsize=4)
def _market_cached(source_key: tuple[tuple[str, Any], ...], today: date) -> MarketData:
    source = MarketSource.from_dict(dict(source_key))
    if source.kind == "file":
        return market_from_file(
            Path(source.path),
            today=today,
            benchmark_path=Path(source.benchmark_path) if source.benchmark_path else None,
        )
    from backtests.selectors import market_from_database

    return market_from_database(symbols=source.symbols, demo_only=source.demo_only)


def backtest_market(source: MarketSource) -> MarketData:
    """The market of a source (read once per process and source)."""
    key = tuple(
        sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in source.as_dict().items())
    )
    return _market_cached(key, firm_today())


def backtest_market_forget() -> None:
    """Drop the cached markets (after prices were imported, in tests)."""
    _market_cached.cache_clear()


def backtest_run_create(
    *,
    name: str,
    strategies: Sequence[StrategyConfig],
    source: MarketSource,
    start: date,
    end: date,
    account: AccountSetup | None = None,
    walk_forward: WalkForwardSpec | None = None,
    seed: int = 0,
    requested_by: Any = None,
) -> BacktestRun:
    """Record a study and its replays (all pending).

    ``compare``: each strategy over ``start``-``end``. ``walk_forward`` (one strategy): on each
    fold, every candidate of the grid over the training window; the test windows are added once
    the candidates are scored (:func:`backtest_walk_forward_select`).
    """
    if not strategies:
        raise InvalidInput("choose at least one strategy", field="strategies")
    names = [s.name for s in strategies]
    if len(set(names)) != len(names):
        raise InvalidInput("each strategy may appear once", field="strategies")
    if end <= start:
        raise InvalidInput(f"the end ({end}) must be after the start ({start})", field="end")
    if walk_forward is not None and len(strategies) != 1:
        raise InvalidInput("walk-forward validation takes one strategy", field="strategies")
    account = account or AccountSetup()
    market = backtest_market(source)
    days = market.trading_days(start, end)
    if len(days) < 2:
        raise InvalidInput(
            f"{market.name} has no prices between {start} and {end} "
            f"(it covers {market.days[0]} to {market.days[-1]})",
            field="start",
        )
    folds = (
        rolling_folds(
            days,
            train_years=walk_forward.train_years,
            test_years=walk_forward.test_years,
            step_years=walk_forward.step_years,
        )
        if walk_forward is not None
        else []
    )
    with transaction.atomic():
        run = BacktestRun.objects.create(
            name=name.strip()[:120] or " · ".join(strategy_title(n) for n in names)[:120],
            kind=RunKind.WALK_FORWARD if walk_forward else RunKind.COMPARE,
            strategies=[s.as_dict() for s in strategies],
            market=source.as_dict(),
            market_name=market.name[:120],
            start=days[0],
            end=days[-1],
            account=account.as_dict(),
            walk_forward=walk_forward.as_dict() if walk_forward else {},
            seed=seed,
            requested_by=requested_by if getattr(requested_by, "pk", None) else None,
        )
        rows = []
        if walk_forward is None:
            for strategy in strategies:
                rows.append(
                    BacktestResult(
                        run=run,
                        key=strategy.name,
                        role=ResultRole.FULL,
                        label=strategy.name,
                        strategy=strategy.as_dict(),
                        start=days[0],
                        end=days[-1],
                    )
                )
        else:
            candidates = parameter_grid(strategies[0], walk_forward.grid_for(strategies[0]))
            for fold in folds:
                for label, candidate in candidates.items():
                    rows.append(
                        BacktestResult(
                            run=run,
                            key=f"train-{fold.index}-{label}"[:160],
                            role=ResultRole.TRAIN,
                            fold=fold.index,
                            label=label,
                            strategy=candidate.as_dict(),
                            start=fold.train_start,
                            end=fold.train_end,
                        )
                    )
            run.summary = {"folds": [f.as_dict() for f in folds]}
            run.save(update_fields=["summary"])
        BacktestResult.objects.bulk_create(rows)
    return run


def _job(result: BacktestResult, run: BacktestRun) -> BacktestJob:
    return BacktestJob(
        key=str(result.pk),
        strategy=StrategyConfig.from_dict(result.strategy),
        start=result.start,
        end=result.end,
        account=AccountSetup.from_dict(run.account),
        seed=run.seed,
    )


def _store(result_id: int, outcome: Mapping[str, Any]) -> None:
    now = timezone.now()
    if "error" in outcome:
        BacktestResult.objects.filter(pk=result_id, status=ResultStatus.PENDING).update(
            status=ResultStatus.FAILED, error=str(outcome["error"])[:5000], finished_at=now
        )
        return
    summary = outcome["summary"]
    log = outcome["log"]
    details = {
        "allocation": summary["allocation"],
        "years": summary["years"],
        "regimes": summary["regimes"],
        "harvests": summary["harvests"],
        "blocks": summary["blocks"],
        "wash_sales": summary["wash_sales"],
        "proposals": [
            {k: p[k] for k in ("day", "reason", "status", "estimated_tax", "trades")}
            for p in log["proposals"]
        ],
        "targets": log["targets"],
        "taxes": log["taxes"],
        "approvals": log["approvals"],
        "notes": log["notes"],
        "timings": log["timings"],
    }
    BacktestResult.objects.filter(pk=result_id, status=ResultStatus.PENDING).update(
        status=ResultStatus.DONE,
        metrics=summary["metrics"],
        series=summary["series"],
        details=details,
        elapsed_s=outcome.get("elapsed_s"),
        finished_at=now,
    )


def _mark_running(run: BacktestRun) -> None:
    BacktestRun.objects.filter(pk=run.pk, status=RunStatus.QUEUED).update(
        status=RunStatus.RUNNING, started_at=timezone.now()
    )


def backtest_results_execute(
    *,
    result_ids: Iterable[int],
    workers: int = 1,
    progress: Progress | None = None,
) -> list[int]:
    """Replay pending results (of one run), ``workers`` at a time; returns the ids handled.

    Results already done or failed are left as they are (a retried task replays nothing twice).
    """
    results = list(
        BacktestResult.objects.filter(pk__in=list(result_ids)).select_related("run").order_by("id")
    )
    if not results:
        return []
    runs = {r.run_id for r in results}
    if len(runs) != 1:
        raise InvalidInput("results of one run at a time", field="result_ids")
    run = results[0].run
    _mark_running(run)
    todo = [r for r in results if r.status == ResultStatus.PENDING]
    if todo:
        market = backtest_market(MarketSource.from_dict(run.market))
        outcomes = run_isolated(
            [_job(r, run) for r in todo], market, workers=workers, progress=progress
        )
        for result in todo:
            _store(result.pk, outcomes[str(result.pk)])
    return [r.pk for r in results]


def backtest_result_execute(*, result_id: int) -> int:
    """Replay one result (a Celery task's unit of work)."""
    if not BacktestResult.objects.filter(pk=result_id).exists():
        raise NotFound(f"backtest result {result_id} not found")
    backtest_results_execute(result_ids=[result_id])
    return result_id


def _score(result: BacktestResult, objective: str) -> float | None:
    value = result.metrics.get(objective) if result.status == ResultStatus.DONE else None
    return None if value is None else float(value)


def backtest_walk_forward_select(*, run_id: int) -> list[int]:
    """Choose each fold's parameters on its training window and add its test window (once).

    Returns the ids of the test-window results (pending or already replayed).
    """
    run = BacktestRun.objects.filter(pk=run_id).first()
    if run is None:
        raise NotFound(f"backtest {run_id} not found")
    if run.kind != RunKind.WALK_FORWARD:
        raise Conflict(f"backtest {run_id} is not a walk-forward study")
    spec = WalkForwardSpec.from_dict(run.walk_forward)
    folds = run.summary.get("folds", [])
    train = list(run.results.filter(role=ResultRole.TRAIN).order_by("id"))
    if any(r.status == ResultStatus.PENDING for r in train):
        raise Conflict(f"backtest {run_id} still has training windows to replay")
    chosen: list[dict[str, Any]] = []
    test_ids = []
    with transaction.atomic():
        for fold in folds:
            candidates = [r for r in train if r.fold == fold["index"]]
            scores = {r.label: _score(r, spec.objective) for r in candidates}
            try:
                label = choose(scores)
            except InvalidInput:
                chosen.append({**fold, "label": None, "scores": scores})
                continue
            best = next(r for r in candidates if r.label == label)
            test, _ = BacktestResult.objects.get_or_create(
                run=run,
                key=f"test-{fold['index']}",
                defaults={
                    "role": ResultRole.TEST,
                    "fold": fold["index"],
                    "label": label,
                    "strategy": best.strategy,
                    "start": date.fromisoformat(fold["test_start"]),
                    "end": date.fromisoformat(fold["test_end"]),
                },
            )
            test_ids.append(test.pk)
            chosen.append({**fold, "label": label, "scores": scores})
        summary = dict(run.summary)
        summary["chosen"] = chosen
        BacktestRun.objects.filter(pk=run.pk).update(summary=summary)
    return test_ids


def _series(result: BacktestResult, name: str) -> pd.Series:
    days = pd.DatetimeIndex(pd.to_datetime(result.series["days"]))
    return pd.Series(result.series[name], index=days, dtype=float)


def _harvest_pairs(
    results: Sequence[BacktestResult],
) -> list[tuple[BacktestResult, BacktestResult]]:
    """(with harvesting, without) pairs of results whose strategies differ only in harvesting."""
    pairs = []
    for with_ in results:
        config = dict(with_.strategy)
        if not config.get("harvesting"):
            continue
        for without in results:
            other = dict(without.strategy)
            if other.get("harvesting"):
                continue
            a = {k: v for k, v in config.items() if k not in ("name", "harvesting")}
            b = {k: v for k, v in other.items() if k not in ("name", "harvesting")}
            if a == b:
                pairs.append((with_, without))
    return pairs


def _compare_summary(run: BacktestRun, results: Sequence[BacktestResult]) -> dict[str, Any]:
    done = [r for r in results if r.status == ResultStatus.DONE]
    table = [{"strategy": r.label, **{m: r.metrics.get(m) for m in TABLE_METRICS}} for r in done]
    harvest = []
    for with_, without in _harvest_pairs(done):
        value = metrics.harvest_value(_series(with_, "after_tax"), _series(without, "after_tax"))
        harvest.append(
            {
                "with": with_.label,
                "without": without.label,
                "cagr": value["cagr"],
                "per_year": {str(y): v for y, v in value["per_year"].items()},
            }
        )
    return {"table": table, "harvest_value": harvest}


def _walk_forward_summary(run: BacktestRun, results: Sequence[BacktestResult]) -> dict[str, Any]:
    tests = sorted(
        (r for r in results if r.role == ResultRole.TEST and r.status == ResultStatus.DONE),
        key=lambda r: r.start,
    )
    summary = dict(run.summary)
    if not tests:
        summary["out_of_sample"] = None
        return summary
    pre = stitch([_series(r, "value") for r in tests])
    post = stitch([_series(r, "after_tax") for r in tests])
    rate = AccountSetup.from_dict(run.account).cash_rate
    perf = metrics.performance(pre, risk_free_rate=rate).as_dict()
    # Growth rates count the test windows' own time only: with a step longer than the test
    # window, the chained path skips the years between windows.
    years = sum((r.end - r.start).days for r in tests) / metrics.DAYS_PER_YEAR
    perf["years"] = years
    perf["cagr"] = float((pre.iloc[-1] / pre.iloc[0]) ** (1 / years) - 1)
    perf["calmar"] = perf["cagr"] / perf["max_drawdown"] if perf["max_drawdown"] > 0 else None
    summary["out_of_sample"] = {
        **perf,
        "after_tax_cagr": float((post.iloc[-1] / post.iloc[0]) ** (1 / years) - 1),
        "windows": [
            {
                "fold": r.fold,
                "start": r.start.isoformat(),
                "end": r.end.isoformat(),
                "label": r.label,
                **{m: r.metrics.get(m) for m in TABLE_METRICS},
            }
            for r in tests
        ],
        "series": {
            "days": [d.date().isoformat() for d in pre.index],
            "value": [round(float(v), 6) for v in pre.to_numpy()],
            "after_tax": [round(float(v), 6) for v in post.to_numpy()],
        },
    }
    return summary


def backtest_run_finish(*, run_id: int) -> BacktestRun:
    """Gather the figures of a run whose replays are all finished, and close it (once)."""
    run = BacktestRun.objects.filter(pk=run_id).first()
    if run is None:
        raise NotFound(f"backtest {run_id} not found")
    if run.status in (RunStatus.DONE, RunStatus.FAILED):
        return run
    results = list(run.results.order_by("id"))
    if any(r.status == ResultStatus.PENDING for r in results):
        raise Conflict(f"backtest {run_id} still has replays to run")
    if run.kind == RunKind.WALK_FORWARD:
        summary = _walk_forward_summary(run, results)
        reported = [r for r in results if r.role == ResultRole.TEST]
    else:
        summary = _compare_summary(run, results)
        reported = results
    failures = [f"{r.key}: {r.error}" for r in results if r.status == ResultStatus.FAILED]
    ok = any(r.status == ResultStatus.DONE for r in reported)
    BacktestRun.objects.filter(pk=run.pk, status__in=[RunStatus.QUEUED, RunStatus.RUNNING]).update(
        status=RunStatus.DONE if ok else RunStatus.FAILED,
        summary=summary,
        error="\n".join(failures)[:10000],
        finished_at=timezone.now(),
    )
    run.refresh_from_db()
    return run


def backtest_run_fail(*, run_id: int, reason: str) -> None:
    """Close a run that could not finish (a task gave up)."""
    BacktestRun.objects.filter(pk=run_id, status__in=[RunStatus.QUEUED, RunStatus.RUNNING]).update(
        status=RunStatus.FAILED, error=reason[:10000], finished_at=timezone.now()
    )


def backtest_run_local(
    *, run_id: int, workers: int = 1, progress: Progress | None = None
) -> BacktestRun:
    """Run a whole study in this process (its replays in ``workers`` child processes at once)."""
    run = BacktestRun.objects.filter(pk=run_id).first()
    if run is None:
        raise NotFound(f"backtest {run_id} not found")
    first = run.results.filter(role__in=[ResultRole.FULL, ResultRole.TRAIN]).values_list(
        "pk", flat=True
    )
    backtest_results_execute(result_ids=list(first), workers=workers, progress=progress)
    if run.kind == RunKind.WALK_FORWARD:
        tests = backtest_walk_forward_select(run_id=run.pk)
        backtest_results_execute(result_ids=tests, workers=workers, progress=progress)
    return backtest_run_finish(run_id=run.pk)


def backtest_run_start(*, run_id: int) -> None:
    """Queue a study on the Celery workers (in the embedded mode it runs in-process)."""
    from worker.tasks import backtest_start

    if not BacktestRun.objects.filter(pk=run_id, status=RunStatus.QUEUED).exists():
        raise Conflict(f"backtest {run_id} is not queued")
    backtest_start.delay(run_id)


def backtest_workflow(*, run_id: int, queue: str | None = None) -> str:
    """Enqueue the first chord of a run: its replays (whole windows, or the training windows of
    a walk-forward study), gathered by the next step. Returns the chord's id."""
    from celery import chord

    from worker.tasks import backtest_finish, backtest_job, backtest_select

    run = BacktestRun.objects.filter(pk=run_id).first()
    if run is None:
        raise NotFound(f"backtest {run_id} not found")
    ids = list(
        run.results.filter(role__in=[ResultRole.FULL, ResultRole.TRAIN]).values_list(
            "pk", flat=True
        )
    )
    options = {"queue": queue} if queue else {}
    then = (
        backtest_select.s(run_id, queue)
        if run.kind == RunKind.WALK_FORWARD
        else backtest_finish.s(run_id)
    )
    result = chord(backtest_job.s(pk).set(**options) for pk in ids)(then.set(**options))
    return str(result.id)


def backtest_test_workflow(*, run_id: int, queue: str | None = None) -> str | None:
    """Choose each fold's parameters, then enqueue the chord of test windows (walk-forward)."""
    from celery import chord

    from worker.tasks import backtest_finish, backtest_job

    ids = backtest_walk_forward_select(run_id=run_id)
    options = {"queue": queue} if queue else {}
    if not ids:
        backtest_run_finish(run_id=run_id)
        return None
    result = chord(backtest_job.s(pk).set(**options) for pk in ids)(
        backtest_finish.s(run_id).set(**options)
    )
    return str(result.id)
