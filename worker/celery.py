"""The Celery application: JSON only, time limits, routing by queue, the beat schedule.

Production runs ``celery -A worker worker -Q default,pipeline,trading,backtests`` and
``celery -A worker beat``; the embedded mode runs every task in-process (``task_always_eager``).
"""

from __future__ import annotations

import os

from celery import Celery
from celery.schedules import crontab
from django.conf import settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "advisor.settings")

app = Celery("robo_advisor", task_cls="worker.base:PlatformTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_default_queue = "default"
app.conf.task_routes = {
    "worker.tasks.pipeline_*": {"queue": "pipeline"},
    "worker.tasks.trading_*": {"queue": "trading"},
    "worker.tasks.backtest_*": {"queue": "backtests"},
    "worker.tasks.proposals_*": {"queue": "pipeline"},
}
app.conf.broker_connection_retry_on_startup = True
app.conf.broker_transport_options = {"visibility_timeout": settings.CELERY_VISIBILITY_TIMEOUT}
app.conf.worker_cancel_long_running_tasks_on_connection_loss = True

# Times are UTC; the market closes at 16:00 America/New_York (21:00 UTC in winter, 20:00 in summer).
app.conf.beat_schedule = {
    "daily-proposals": {
        "task": "worker.tasks.proposals_daily",
        "schedule": crontab(minute="0", hour="14", day_of_week="mon-fri"),
    },
    "trading-tick": {"task": "worker.tasks.trading_tick", "schedule": 60.0},
    "trading-reconcile": {
        "task": "worker.tasks.trading_reconcile",
        "schedule": crontab(minute="*/15"),
    },
    "refresh-recommendations": {
        "task": "worker.tasks.refresh_recommendations",
        "schedule": crontab(minute="30", hour="21", day_of_week="mon-fri"),
    },
    "record-valuations": {
        "task": "worker.tasks.record_valuations",
        "schedule": crontab(minute="15", hour="21", day_of_week="mon-fri"),
    },
    # Ingest, score, detect, build views, recompute recommendations; a run still in progress
    # makes the next tick a no-op, an interrupted one is resumed.
    "signal-pipeline": {
        "task": "worker.tasks.pipeline_start",
        "schedule": crontab(minute="*/30", day_of_week="mon-fri"),
    },
}
app.autodiscover_tasks(["worker"])
