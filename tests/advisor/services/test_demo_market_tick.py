"""The demo market's tick: it stores the session's bars and tells the demo households' pages the
prices it stored, so a page moved by the tick reads as a reload of it does."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import override_settings
from django.utils import timezone

from advisor.services import demo
from portfolios.core.errors import Conflict
from portfolios.models import PriceBar

pytestmark = pytest.mark.django_db


def test_a_tick_publishes_the_prices_it_stored(monkeypatch):
    published: list[dict] = []
    monkeypatch.setattr(demo, "publish_on_commit", lambda **event: published.append(event))
    now = timezone.now()
    with override_settings(DEMO_MODE=True):
        demo.demo_load(seed=7, today=timezone.localdate(now), now=now)
        summary = demo.demo_market_tick(now=now + timedelta(minutes=1))

    assert summary.ticks > 0
    (event,) = [e for e in published if e["event"] == "prices.updated"]
    payload = event["payload"]
    assert payload["session"] == summary.session.isoformat()
    stored = {
        bar.asset.symbol: bar.close
        for bar in PriceBar.objects.filter(date=summary.session).select_related("asset")
    }
    assert payload["prices"] and set(payload["prices"]) <= set(stored)
    # the stored price exactly, as text with its six places: a finer feed's prices pass unrounded
    assert {s: Decimal(p) for s, p in payload["prices"].items()} == {
        s: stored[s] for s in payload["prices"]
    }
    assert all(p == str(stored[s]) for s, p in payload["prices"].items())


def test_a_tick_before_the_demo_is_loaded_is_refused():
    with pytest.raises(Conflict, match="the demo market is not loaded"):
        demo.demo_market_tick(now=timezone.now())
