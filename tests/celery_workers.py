"""Real ``celery worker`` processes for the tests that need one, on the test database."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from tests.conftest import ARTIFACTS, REPO, shared_database_url


@contextlib.contextmanager
def running_celery_worker(
    *, queue: str, redis_url: str, name: str = "w", log: Path | None = None, **extra_env: str
) -> Iterator[subprocess.Popen[str]]:
    """A solo-pool worker consuming ``queue`` (unique per test), stopped on exit; its output goes
    to a log under ``artifacts/`` (see ``worker_log_tail``)."""
    env = {**os.environ, "DATABASE_URL": shared_database_url(), "REDIS_URL": redis_url, **extra_env}
    ARTIFACTS.mkdir(exist_ok=True)
    log = log or ARTIFACTS / f"celery-{name}-{queue}.log"
    with log.open("a") as handle:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "worker",
                "worker",
                "-Q",
                queue,
                "--pool",
                "solo",
                "-n",
                f"{name}-{queue}@%h",
                "--loglevel",
                "INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            cwd=REPO,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            text=True,
        )
        process.log_path = log  # type: ignore[attr-defined]
        try:
            yield process
        finally:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()


def worker_log_tail(process: subprocess.Popen[str], characters: int = 4000) -> str:
    """The end of a worker's log, for a failing test's message."""
    log: Path = process.log_path  # type: ignore[attr-defined]
    return log.read_text(errors="replace")[-characters:] if log.exists() else "(no log)"
