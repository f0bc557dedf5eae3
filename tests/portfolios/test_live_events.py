"""Live events can be switched off for a process (``LIVE_EVENTS``), as every backtest's is."""

from __future__ import annotations

import pytest

from backtests.isolation import child_environment
from portfolios import live


@pytest.fixture
def submitted(monkeypatch):
    calls = []
    monkeypatch.setattr(live._publisher, "submit", lambda *args: calls.append(args))
    return calls


@pytest.mark.django_db
def test_events_are_queued_after_commit_when_live_events_are_on(
    settings, submitted, django_capture_on_commit_callbacks
):
    settings.LIVE_EVENTS = True
    with django_capture_on_commit_callbacks(execute=True):
        live.publish_on_commit(groups=["household-1"], event="order.filled", payload={"qty": "1"})
        assert submitted == []  # not before the commit
    assert submitted == [(["household-1"], "order.filled", {"qty": "1"})]


@pytest.mark.django_db
def test_nothing_is_queued_when_live_events_are_off(
    settings, submitted, django_capture_on_commit_callbacks
):
    settings.LIVE_EVENTS = False
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        live.publish_on_commit(groups=["household-1"], event="order.filled", payload={"qty": "1"})
    assert callbacks == []
    live.publish_soon(groups=["household-1"], event="order.filled", payload={"qty": "1"})
    assert submitted == []


def test_a_backtest_process_publishes_no_live_events():
    assert child_environment(seed=0)["LIVE_EVENTS"] == "false"
