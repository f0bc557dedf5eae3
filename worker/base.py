"""The base class of every task: enqueued after commit, retried on transient errors only."""

from __future__ import annotations

from typing import Any

from celery import Task
from celery.result import AsyncResult
from celery.utils import uuid
from django.db import OperationalError, connection, transaction

#: Failures worth another try: the database or a broker connection blinked, a timeout.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError,
    ConnectionError,
    TimeoutError,
)


class PlatformTask(Task):
    """Every task's base class.

    * ``apply_async`` (and so ``delay``) inside a database transaction waits for the commit: a
      task never runs against data its caller has not committed, and a rolled-back request
      enqueues nothing. The returned ``AsyncResult`` carries the id the task will run under.
    * Transient errors retry with exponential backoff and jitter; anything else fails at once.
    * Time limits come from settings (``CELERY_TASK_SOFT_TIME_LIMIT``/``CELERY_TASK_TIME_LIMIT``).
    """

    autoretry_for = TRANSIENT_ERRORS
    retry_backoff = 2
    retry_backoff_max = 300
    retry_jitter = True
    max_retries = 5
    acks_late = True

    def apply_async(  # type: ignore[override]
        self,
        args: Any = None,
        kwargs: Any = None,
        task_id: str | None = None,
        **options: Any,
    ) -> AsyncResult:
        task_id = task_id or uuid()
        if connection.in_atomic_block:
            # Eager (in-process) mode waits for the commit too, so both modes behave alike.
            transaction.on_commit(
                lambda: Task.apply_async(self, args, kwargs, task_id=task_id, **options)
            )
            return self.AsyncResult(task_id)
        return Task.apply_async(self, args, kwargs, task_id=task_id, **options)
