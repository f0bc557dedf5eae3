from __future__ import annotations

import itertools
import json
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest

from advisor.demo.market import DailyBar, MarketHistory
from advisor.demo.ticker import MarketTicker, Tick
from advisor.demo.trading_calendar import is_trading_day
from advisor.demo.universe import DEMO_UNIVERSE
from portfolios.core.errors import InvalidInput

# The conftest history ends on Friday 27 June 2025; 18:00 UTC is 14:00 in New York.
FRIDAY_AFTERNOON = datetime(2025, 6, 27, 18, 0, tzinfo=UTC)


def run(ticker: MarketTicker, start: datetime, count: int, step: float = 5.0) -> list[list[Tick]]:
    return [ticker.tick(start + timedelta(seconds=step * i)) for i in range(count)]


def by_symbol(ticks: list[Tick]) -> dict[str, Tick]:
    return {t.symbol: t for t in ticks if not t.bar_complete}


def test_continues_from_the_last_close(history: MarketHistory):
    last = history.last_bars()
    ticker = MarketTicker.from_history(history)
    first = by_symbol(ticker.tick(FRIDAY_AFTERNOON))
    assert set(first) == {a.symbol for a in DEMO_UNIVERSE}
    for symbol, tick in first.items():
        bar = last[symbol]
        assert tick.session_date == history.end
        assert tick.open == bar.open
        assert tick.close == pytest.approx(bar.close, rel=0.01)
        assert tick.volume >= bar.volume
        assert tick.at == FRIDAY_AFTERNOON


def test_prices_move_visibly_and_stay_plausible(history: MarketHistory):
    ticker = MarketTicker.from_history(history)
    series = run(ticker, FRIDAY_AFTERNOON, 120)
    closes = np.array([[t.close for t in ticks] for ticks in series])
    changed = (np.diff(closes, axis=0) != 0).mean()
    assert changed > 0.5  # most prices move on most ticks
    relative_range = closes.max(axis=0) / closes.min(axis=0) - 1
    assert relative_range.max() < 0.25
    for ticks in series:
        for t in ticks:
            assert t.low <= min(t.open, t.close) <= max(t.open, t.close) <= t.high
            assert t.close > 0


def test_deterministic_given_seed_and_calls(history: MarketHistory):
    first = MarketTicker.from_history(history, seed=5)
    second = MarketTicker.from_history(history, seed=5)
    assert run(first, FRIDAY_AFTERNOON, 60) == run(second, FRIDAY_AFTERNOON, 60)
    assert first.take_news() == second.take_news()
    other = MarketTicker.from_history(history, seed=6)
    assert run(other, FRIDAY_AFTERNOON, 60) != run(
        MarketTicker.from_history(history, seed=5), FRIDAY_AFTERNOON, 60
    )


def test_live_events_bring_headlines(history: MarketHistory):
    ticker = MarketTicker.from_history(history, news_per_minute=6.0)
    run(ticker, FRIDAY_AFTERNOON, 120)
    news = ticker.take_news()
    events = ticker.take_events()
    assert len(events) >= 20
    assert len(news) >= len(events)
    assert ticker.take_news() == []
    end = FRIDAY_AFTERNOON + timedelta(seconds=5 * 119)
    for item in news:
        assert FRIDAY_AFTERNOON <= item.published_at <= end
        assert "simulated" in item.source.lower()


def test_rolls_a_new_session_and_fills_gaps(history: MarketHistory):
    ticker = MarketTicker.from_history(history)
    friday = by_symbol(ticker.tick(FRIDAY_AFTERNOON))
    # Saturday still quotes against Friday's bar
    saturday = ticker.tick(datetime(2025, 6, 28, 15, 0, tzinfo=UTC))
    assert {t.session_date for t in saturday} == {date(2025, 6, 27)}
    # A week later: Friday completes, the sessions in between are filled in, 3 July included
    later = ticker.tick(datetime(2025, 7, 8, 15, 0, tzinfo=UTC))
    complete = [t for t in later if t.bar_complete]
    sessions = sorted({t.session_date for t in complete})
    assert sessions == [date(2025, 6, 27), date(2025, 6, 30), date(2025, 7, 1), date(2025, 7, 2),
                        date(2025, 7, 3), date(2025, 7, 7)]  # fmt: skip
    assert all(is_trading_day(day) for day in sessions)
    current = by_symbol(later)
    assert {t.session_date for t in current.values()} == {date(2025, 7, 8)}
    previous = {t.symbol: t for t in complete if t.session_date == date(2025, 7, 7)}
    for symbol, tick in current.items():
        assert tick.previous_close == previous[symbol].close
        assert tick.open == pytest.approx(tick.previous_close, rel=0.05)
    zlca = [t for t in complete if t.symbol == "ZLCA"]
    assert zlca[0].previous_close == friday["ZLCA"].previous_close
    for earlier, following in itertools.pairwise(zlca):
        assert following.previous_close == earlier.close


def test_clock_going_backwards_produces_nothing(history: MarketHistory):
    ticker = MarketTicker.from_history(history)
    assert ticker.tick(FRIDAY_AFTERNOON)
    assert ticker.tick(FRIDAY_AFTERNOON) == []
    assert ticker.tick(FRIDAY_AFTERNOON - timedelta(minutes=1)) == []


def test_naive_now_is_refused(history: MarketHistory):
    ticker = MarketTicker.from_history(history)
    with pytest.raises(InvalidInput, match="aware"):
        ticker.tick(datetime(2025, 6, 27, 18, 0))  # noqa: DTZ001 - the point of the test


def test_state_round_trips_through_json(history: MarketHistory):
    ticker = MarketTicker.from_history(history, seed=9)
    run(ticker, FRIDAY_AFTERNOON, 30)
    ticker.take_news()
    saved = json.loads(json.dumps(ticker.state()))
    restored = MarketTicker.from_state(saved)
    resume = FRIDAY_AFTERNOON + timedelta(minutes=10)
    assert run(restored, resume, 40) == run(ticker, resume, 40)
    assert restored.take_news() == ticker.take_news()


def test_state_for_another_universe_is_refused(history: MarketHistory):
    state = MarketTicker.from_history(history).state()
    with pytest.raises(InvalidInput, match="different universe"):
        MarketTicker.from_state(state, assets=DEMO_UNIVERSE[:5])


def test_needs_a_bar_for_every_asset():
    bars = {"ZLCA": DailyBar(date(2025, 6, 27), "ZLCA", 1.0, 1.0, 1.0, 1.0, 1)}
    with pytest.raises(InvalidInput, match="no last bar"):
        MarketTicker(last_bars=bars, seed=1)
