"""The replay process: ``python -m backtests.runner FOLDER`` (started by
:func:`backtests.isolation.run_isolated`, with the environment it sets).

Reads ``FOLDER/jobs.json`` and the market it names; for each job, creates a fresh in-memory
database from the models, replays the job, summarises it and writes ``FOLDER/result-N.json``.
Progress goes to stdout as JSON lines.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from datetime import timedelta
from pathlib import Path
from typing import Any


def _emit(event: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


def fresh_database() -> None:
    """Drop the current in-memory database and create every model's table in a new one."""
    from django.apps import apps
    from django.db import connection
    from django.db.backends.base.base import BaseDatabaseWrapper

    if connection.settings_dict["NAME"] != ":memory:":
        raise RuntimeError("the replay process only runs on an in-memory database")
    # Django ignores close() on an in-memory SQLite database (it would destroy it): that is
    # exactly what is wanted here, so close it the base way.
    BaseDatabaseWrapper.close(connection)
    with connection.schema_editor() as editor:
        for model in apps.get_models():
            if model._meta.proxy or not model._meta.managed:
                continue
            editor.create_model(model)


def run_job(job_data: dict[str, Any], market: Any, *, keep_record: bool) -> dict[str, Any]:
    """Replay one job on a fresh database and summarise it."""
    from backtests.core.config import BacktestJob
    from backtests.core.regimes import equal_weight_index
    from backtests.core.summary import summarise
    from backtests.replay import replay

    job = BacktestJob.from_dict(job_data)
    history_start = job.start - timedelta(days=int(366 * (job.strategy.estimation_years + 1)))
    window = market.window(history_start, job.end)
    fresh_database()
    started = time.perf_counter()

    def progress(done: int, total: int) -> None:
        _emit({"event": "progress", "job": job.key, "done": done, "total": total})

    record = replay(market=window, job=job, progress=progress)
    benchmark = market.benchmark
    if benchmark is None:
        risky = [s for s, a in market.assets.items() if a.asset_class != "cash"]
        benchmark = equal_weight_index(market.closes[risky]) if risky else None
    summary = summarise(record, benchmark=benchmark, risk_free_rate=job.account.cash_rate)
    log = {
        "targets": record["targets"],
        "proposals": record["proposals"],
        "fills": record["fills"],
        "blocks": record["blocks"],
        "wash_sales": record["wash_sales"],
        "taxes": record["taxes"],
        "approvals": record["approvals"],
        "notes": record["notes"],
        "timings": record["timings"],
    }
    result: dict[str, Any] = {
        "summary": summary,
        "log": log,
        "elapsed_s": round(time.perf_counter() - started, 3),
    }
    if keep_record:
        result["record"] = record
    return result


def main(folder: str) -> int:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "advisor.settings")
    django.setup()
    from backtests.market import MarketData
    from portfolios.core.errors import DomainError

    work = Path(folder)
    spec = json.loads((work / "jobs.json").read_text())
    market = MarketData.load(Path(spec["market"]))
    failed = 0
    for index, job_data in enumerate(spec["jobs"]):
        try:
            result = run_job(job_data, market, keep_record=bool(spec.get("keep_records")))
        except DomainError as exc:
            failed += 1
            result = {"error": exc.message}
        except Exception as exc:  # a bug: report it with its trace, and go on with the next job
            failed += 1
            result = {"error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()}
            traceback.print_exc()
        (work / f"result-{index}.json").write_text(
            json.dumps({"key": job_data["key"], "result": result})
        )
        _emit({"event": "done", "job": job_data["key"], "ok": "error" not in result})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
