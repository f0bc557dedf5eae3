"""The base task class enqueues only after the surrounding transaction commits."""

from unittest import mock

import pytest
from celery import Task
from django.db import transaction

from worker.tasks import record_valuations

pytestmark = pytest.mark.django_db


def test_enqueue_inside_a_transaction_waits_for_commit(django_capture_on_commit_callbacks):
    with mock.patch.object(Task, "apply_async") as send:
        with django_capture_on_commit_callbacks(execute=False) as callbacks, transaction.atomic():
            result = record_valuations.apply_async(kwargs={"on": "2024-03-01"})
            assert result.id
            send.assert_not_called()
        assert len(callbacks) == 1
        callbacks[0]()
    send.assert_called_once()
    assert send.call_args.kwargs["task_id"] == result.id


def test_a_rolled_back_transaction_enqueues_nothing(django_capture_on_commit_callbacks):
    with (
        mock.patch.object(Task, "apply_async") as send,
        django_capture_on_commit_callbacks(execute=True) as callbacks,
    ):
        try:
            with transaction.atomic():
                record_valuations.apply_async(kwargs={"on": "2024-03-01"})
                raise RuntimeError("rolled back")
        except RuntimeError:
            pass
    assert callbacks == []
    send.assert_not_called()


def test_tasks_use_json_and_have_time_limits():
    app = record_valuations.app
    assert app.conf.task_serializer == "json" and app.conf.accept_content == ["json"]
    assert app.conf.task_time_limit and app.conf.task_soft_time_limit
    assert record_valuations.acks_late is True
