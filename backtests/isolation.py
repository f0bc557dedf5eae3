"""Every backtest in a database of its own: a child process on a fresh in-memory SQLite database.

A replay writes a whole world (firm settings, limits, a household, proposals, orders, lots) and
runs services that publish live events and enqueue tasks. None of that may reach the product,
so :func:`run_isolated` starts ``python -m backtests.runner`` with an environment of its own:

* the embedded mode's settings (no ``DATABASE_URL``, no ``REDIS_URL``): SQLite at ``:memory:``,
  the in-memory channel layer and cache, so no event reaches a browser, and ``LIVE_EVENTS``
  off, so the services do not even queue the events nobody could receive;
* Celery not eager, on the in-memory broker that nothing consumes: a task enqueued by a service
  goes nowhere (the replay executes approved proposals itself, on its clock);
* ``PYTHONHASHSEED`` from the job's seed, so a replay repeats exactly.

The child builds each job's database from the models (one ``CREATE TABLE`` per model, a tenth
of a second; migrations take seconds), replays, summarises, and writes one JSON file per job.
It reports progress on stdout, one JSON line per update.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from backtests.core.config import BacktestJob
from backtests.market import MarketData
from portfolios.core.errors import DomainError, InvalidInput

REPO = Path(__file__).resolve().parent.parent
#: Seconds a child may run per job before it is stopped.
JOB_TIMEOUT_S = 3600

Progress = Callable[[str, int, int], None]


class BacktestFailed(DomainError):
    """A replay that could not finish; the message says why."""

    code = "backtest_failed"
    status = 500


def child_environment(*, seed: int) -> dict[str, str]:
    """The environment of a replay process (see the module docstring)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DATABASE_", "REDIS_", "CELERY_", "DJANGO_", "SQLITE_"))
        and key != "PYTEST_XDIST_WORKER"
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "advisor.settings",
            "DATABASE_URL": "",
            "REDIS_URL": "",
            "SQLITE_PATH": ":memory:",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(32),
            "DJANGO_DEBUG": "false",
            "DJANGO_STATIC_MANIFEST": "false",
            "DEMO_MODE": "false",
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "CELERY_BROKER_URL": "memory://",
            "CELERY_RESULT_BACKEND": "cache+memory://",
            "BROKER": "simulated",
            "TRADING_MODE": "paper",
            "SIMULATED_BROKER_LATENCY_MS": "0",
            "LOG_LEVEL": "WARNING",
            "LIVE_EVENTS": "false",
            "PYTHONHASHSEED": str(seed),
        }
    )
    return env


def _batches(jobs: Sequence[BacktestJob], workers: int) -> list[list[BacktestJob]]:
    """Jobs grouped by seed (one hash seed per process), then spread over ``workers``."""
    by_seed: dict[int, list[BacktestJob]] = {}
    for job in jobs:
        by_seed.setdefault(job.seed, []).append(job)
    batches: list[list[BacktestJob]] = []
    for group in by_seed.values():
        share = max(1, workers // max(len(by_seed), 1))
        size = -(-len(group) // share)
        batches.extend(group[i : i + size] for i in range(0, len(group), size))
    return batches


def run_isolated(
    jobs: Sequence[BacktestJob],
    market: MarketData,
    *,
    workers: int = 1,
    progress: Progress | None = None,
    keep_records: bool = False,
) -> dict[str, dict[str, Any]]:
    """Run each job in a fresh database in a child process; results by job key.

    Parameters
    ----------
    jobs
        Jobs with distinct keys.
    market
        The whole market; each job reads the part it needs.
    workers
        Child processes run at once.
    progress
        Called with (job key, days done, days in the window).
    keep_records
        Also return each replay's raw record (decisions, fills, ledger) under ``record``.

    Returns
    -------
    dict
        Per job key: ``summary`` and ``log`` (and ``record``), or ``error`` with the reason.
    """
    keys = [job.key for job in jobs]
    if len(set(keys)) != len(keys):
        raise InvalidInput("job keys must be unique", field="jobs")
    if not jobs:
        return {}
    with tempfile.TemporaryDirectory(prefix="backtest-") as folder:
        root = Path(folder)
        market.save(root / "market")
        batches = _batches(jobs, max(1, workers))
        results: dict[str, dict[str, Any]] = {}
        pending = list(enumerate(batches))
        running: list[tuple[subprocess.Popen[str], threading.Thread, list[str], Path]] = []
        failures: list[str] = []

        def start(index: int, batch: list[BacktestJob]) -> None:
            work = root / f"batch-{index}"
            work.mkdir()
            (work / "jobs.json").write_text(
                json.dumps(
                    {
                        "market": str(root / "market"),
                        "keep_records": keep_records,
                        "jobs": [job.as_dict() for job in batch],
                    }
                )
            )
            process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [sys.executable, "-m", "backtests.runner", str(work)],
                cwd=REPO,
                env=child_environment(seed=batch[0].seed),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            errors: list[str] = []
            reader = threading.Thread(target=_drain, args=(process, progress, errors), daemon=True)
            reader.start()
            running.append((process, reader, errors, work))

        try:
            while pending or running:
                while pending and len(running) < max(1, workers):
                    start(*pending.pop(0))
                process, reader, errors, work = running.pop(0)
                try:
                    process.wait(timeout=JOB_TIMEOUT_S * max(1, len(jobs)))
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
                    failures.append(f"{work.name}: timed out")
                reader.join(timeout=30)
                for path in sorted(work.glob("result-*.json")):
                    payload = json.loads(path.read_text())
                    results[payload["key"]] = payload["result"]
                if process.returncode != 0:
                    failures.append(
                        f"{work.name}: exit {process.returncode}: {''.join(errors)[-3000:]}"
                    )
        finally:
            # A caller stopped early (a task's time limit, Ctrl-C): stop the replays it started.
            for process, *_ in running:
                if process.poll() is None:
                    process.kill()
                    process.wait()
        for key in keys:
            if key not in results:
                results[key] = {
                    "error": "the replay process stopped before this job finished: "
                    + ("; ".join(failures) or "no result")
                }
        return results


def _drain(process: subprocess.Popen[str], progress: Progress | None, errors: list[str]) -> None:
    """Read the child's progress lines and keep its error output."""

    def read_errors() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            errors.append(line)
            del errors[:-200]

    error_reader = threading.Thread(target=read_errors, daemon=True)
    error_reader.start()
    assert process.stdout is not None
    for line in process.stdout:
        if progress is None or not line.startswith("{"):
            continue
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if event.get("event") == "progress":
            progress(str(event["job"]), int(event["done"]), int(event["total"]))
    error_reader.join(timeout=30)
