"""A price tick reaches the open dashboard over the websocket and moves every figure that depends
on price at once: each position's and lot's value and gain, the account headers, the total, the
unrealised gain, the weights, the drift, and the allocation and drift charts with their captions.
After the tick the page reads exactly as a reload of it does, cent for cent, with the server's
rounding (half-to-even once per position)."""

from __future__ import annotations

import re
import threading
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from advisor.portal_selectors import amount_text, money_text
from advisor.services.demo import DEMO_PASSWORD
from portfolios.live import household_group, publish_now
from portfolios.models import PriceBar
from portfolios.selectors import PositionView, household_holdings
from tests.browser.conftest import SCREENSHOTS, login, page_figures, screenshot

# A transactional test: the new bars are committed, so the server process sees them (and the
# module's demo_data fixture flushes the database afterwards).
pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.xdist_group("browser"),
]

MICRO = Decimal("0.000001")


def _half_cent_price(position: PositionView) -> Decimal | None:
    """A 6-place price near the current one at which this position's value is an exact half cent
    after an even cent: there half-to-even and half-up (or float arithmetic) disagree."""
    start = position.price.quantize(MICRO)
    for step in range(20_000):
        price = start + step * MICRO
        mills = position.quantity * price * 1000
        if mills == mills.to_integral_value() and mills % 10 == 5 and (mills // 10) % 2 == 0:
            return price
    return None


def _new_prices(positions: list[PositionView]) -> dict[str, Decimal]:
    """Three moves: one fund to well below its basis (its gain turns negative), one to a price
    whose value ends in half a cent, one to a price with six decimal places."""
    by_symbol: dict[str, list[PositionView]] = {}
    for p in positions:
        by_symbol.setdefault(p.symbol, []).append(p)
    gaining = sorted(s for s, ps in by_symbol.items() if all(p.unrealized_gain > 0 for p in ps))
    assert gaining, "the demo household has no position with a gain to turn into a loss"
    falls = gaining[0]
    prices = {falls: (min(p.cost_basis / p.quantity for p in by_symbol[falls]) / 2).quantize(MICRO)}
    for symbol in sorted(by_symbol):
        if symbol in prices:
            continue
        edge = _half_cent_price(by_symbol[symbol][0])
        if edge is not None:
            prices[symbol] = edge
            break
    assert len(prices) == 2, "no position has a price with a half-cent value"
    rest = [s for s in sorted(by_symbol) if s not in prices]
    if rest:
        prices[rest[-1]] = (by_symbol[rest[-1]][0].price * Decimal("1.0731")).quantize(
            MICRO
        ) + 3 * MICRO
    return prices


def _screenshots(page: Any, stage: str) -> None:
    """The whole page, and the summary cards, positions (lots opened) and charts close up."""
    screenshot(page, f"live-prices-{stage}")
    page.evaluate(
        "document.querySelectorAll('#positions details').forEach((d) => { d.open = true; })"
    )
    for part in ("kpis", "holdings", "allocation"):
        page.locator(f"#{part}").screenshot(
            path=str(SCREENSHOTS / f"live-prices-{stage}-{part}.png")
        )


def test_one_price_tick_updates_every_price_derived_figure_as_a_reload_shows_it(
    asgi_server, demo_data, page, django_db_blocker
):
    login(page, asgi_server, "demo-client", DEMO_PASSWORD)
    page.wait_for_url(re.compile(r".*/portal/$"))
    page.wait_for_function("document.getElementById('live-status').textContent.trim() === 'Live'")
    household = int(page.get_by_test_id("positions-table").get_attribute("data-household"))

    with django_db_blocker.unblock():
        accounts = household_holdings(household_id=household)
        positions = [p for a in accounts for p in a.positions]
        prices = _new_prices(positions)
        last = max(p.price_date for p in positions if p.price_date)
        session = last + timedelta(days=1)
        asset_ids = {p.symbol: p.asset_id for p in positions}
        PriceBar.objects.bulk_create(
            PriceBar(
                asset_id=asset_ids[symbol],
                date=session,
                open=price,
                high=price,
                low=price,
                close=price,
                volume=0,
                source=PriceBar.Source.DEMO,
            )
            for symbol, price in prices.items()
        )
        expected_accounts = household_holdings(household_id=household)

    before = page_figures(page)
    _screenshots(page, "before")
    page.evaluate("window.__notReloaded = true")
    fetched: list[str] = []
    page.on("request", lambda request: fetched.append(request.url))

    # as the demo market's tick publishes it; from a thread, since Playwright's loop runs here
    publisher = threading.Thread(
        target=publish_now,
        kwargs={
            "groups": [household_group(household)],
            "event": "prices.updated",
            "payload": {
                "session": session.isoformat(),
                "prices": {symbol: str(price) for symbol, price in prices.items()},
                "headlines": [],
            },
        },
    )
    publisher.start()
    publisher.join(timeout=30)
    page.wait_for_function(
        "(before) => document.querySelector('[data-testid=total-value]').textContent.trim() !== before",
        arg=before["total"],
    )
    after = page_figures(page)
    _screenshots(page, "after")
    assert page.evaluate("window.__notReloaded === true")
    assert not [url for url in fetched if "/live/" in url], "the tick fetched a fragment"

    # the figures the server computes, straight from the selector
    total = sum((a.total_value for a in expected_accounts), Decimal(0))
    gain = sum((a.unrealized_gain for a in expected_accounts), Decimal(0))
    assert after["total"] == money_text(total)
    assert after["total data-value"] == float(total)
    assert after["unrealised gain"] == money_text(gain, signed=True)
    assert after["unrealised gain sign"] == ("neg" if gain < 0 else "pos")
    assert after["prices as of"] == f"At closes of {session:%b} {session.day}, {session.year}"
    moved = set()
    for account in expected_accounts:
        assert after[f"account {account.id}"] == money_text(account.total_value)
        for p in account.positions:
            key = f"{account.id} {p.symbol}"
            assert after[f"{key} price"] == amount_text(p.price)
            assert after[f"{key} value"] == amount_text(p.market_value)
            assert after[f"{key} gain"] == money_text(p.unrealized_gain, signed=True)
            assert after[f"{key} gain sign"] == ("neg" if p.unrealized_gain < 0 else "pos")
            for i, lot in enumerate(p.lots):
                assert after[f"{key} lot {i} value"] == amount_text(lot.market_value)
                assert after[f"{key} lot {i} gain"] == money_text(lot.unrealized_gain, signed=True)
            if p.symbol in prices:
                moved.add(p.symbol)
                assert after[f"{key} value"] != before[f"{key} value"]
                assert after[f"{account.id} {p.symbol} gain"] != before[f"{key} gain"]
    assert moved == set(prices)
    assert after["unrealised gain"] != before["unrealised gain"]
    assert any(after[k] != before[k] for k in after if k.startswith("allocation "))
    for chart in ("allocation chart", "drift chart", "drift chart caption"):
        assert after[chart] != before[chart], f"the {chart} did not move"
    heights = page.evaluate(
        "['allocation', 'drift'].map((n) => document.getElementById(`chart-${n}`).clientHeight)"
    )
    assert min(heights) >= 200, f"a redrawn chart collapsed to {heights} px"
    assert any(after[k] == "neg" != before[k] for k in after if k.endswith("gain sign")), (
        "no gain turned negative"
    )

    # and everything else the page derives from prices (weights, drift) reads as a reload does
    page.reload()
    page.wait_for_function("document.getElementById('live-status').textContent.trim() === 'Live'")
    reloaded = page_figures(page)
    assert {k: (v, reloaded.get(k)) for k, v in after.items() if v != reloaded.get(k)} == {}
    assert after == reloaded
