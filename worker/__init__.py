"""Celery workers: the app, the base task class, routing, the beat schedule, thin tasks."""

from worker.celery import app as celery_app

__all__ = ["celery_app"]
