from __future__ import annotations

import re
from datetime import UTC, date, datetime, time

import numpy as np
import pytest

from advisor.demo.events import EventKind, EventScope, MarketEvent
from advisor.demo.market import MarketHistory
from advisor.demo.news import (
    HEADLINES,
    SUMMARIES,
    headlines_for_event,
    news_for_events,
    news_on,
    template_count,
)
from advisor.demo.trading_calendar import NEW_YORK, new_york_moment
from advisor.demo.universe import DEMO_UNIVERSE, assets_by_symbol
from portfolios.core.errors import InvalidInput

BY_SYMBOL = assets_by_symbol(DEMO_UNIVERSE)
STOCKS = {a.symbol for a in DEMO_UNIVERSE if a.is_stock}

# A crude keyword lexicon: enough to tell whether a headline's wording carries the sign of
# the move, which is what a sentiment model will pick up.
POSITIVE = [
    "beat",
    "beats",
    "tops",
    "record",
    "raises",
    "lifts",
    "boosts",
    "upgrades",
    "upgraded",
    "outperform",
    "overweight",
    "buy",
    "praise",
    "approval",
    "wins",
    "dismisses",
    "feared",
    "probe",
    "takeover",
    "activist",
    "soar",
    "soars",
    "jump",
    "jumps",
    "rise",
    "rises",
    "climb",
    "climbs",
    "rally",
    "rallies",
    "gain",
    "gains",
    "rebound",
    "rebounds",
    "expands",
    "opens",
    "strong",
    "higher",
    "unveils",
    "launches",
    "lift",
    "upbeat",
]
NEGATIVE = [
    "misses",
    "short",
    "weak",
    "drop",
    "drops",
    "cuts",
    "cut",
    "warns",
    "lowers",
    "downgrades",
    "underperform",
    "slashes",
    "bearish",
    "recalls",
    "delays",
    "reject",
    "problems",
    "class-action",
    "investigation",
    "pay",
    "sues",
    "collapse",
    "block",
    "overpays",
    "abandons",
    "suspends",
    "down",
    "plant",
    "fall",
    "falls",
    "slide",
    "slides",
    "tumble",
    "plunge",
    "sell-off",
]


def lexicon_sign(text: str) -> int:
    words = re.findall(r"[a-z\-]+", text.lower())
    score = sum(w in POSITIVE for w in words) - sum(w in NEGATIVE for w in words)
    return int(np.sign(score))


def test_template_variety():
    assert template_count() >= 60
    kinds = {kind for kind, _ in HEADLINES}
    assert kinds == set(EventKind)
    for kind in EventKind:
        for tone in (-1, 0, 1):
            assert HEADLINES[(kind, tone)], (kind, tone)
            assert SUMMARIES[(kind, tone)], (kind, tone)


# Rate-decision wording is about bond prices ("raises rates" is bad news for bonds) and routine
# announcements are deliberately mixed noise, so neither is held to the lexicon.
LABELLED = [
    (kind, tone)
    for kind, tone in HEADLINES
    if tone != 0 and kind not in (EventKind.RATE_DECISION, EventKind.ROUTINE)
]


@pytest.mark.parametrize(("kind", "tone"), LABELLED)
def test_headline_templates_read_the_way_they_are_labelled(kind, tone):
    signs = [lexicon_sign(t) for t in HEADLINES[(kind, tone)]]
    assert sum(s == tone for s in signs) > len(signs) / 2


def test_headlines_are_labelled_as_simulated(history: MarketHistory):
    assert len(history.news) > 1000
    for item in history.news:
        assert "simulated" in item.source.lower()
        assert item.published_at.tzinfo is UTC
        assert item.headline
        assert item.summary.endswith(".")
        assert "{" not in item.headline + item.summary
        assert item.symbols
        assert set(item.symbols) <= set(BY_SYMBOL)
        assert item.true_direction in (-1, 0, 1)


def test_headlines_do_not_look_repetitive(history: MarketHistory):
    headlines = [item.headline for item in history.news]
    assert len(set(headlines)) > 0.5 * len(headlines)


def test_news_is_sorted_and_deterministic(history: MarketHistory):
    published = [item.published_at for item in history.news]
    assert published == sorted(published)
    again = news_for_events(history.events, assets=DEMO_UNIVERSE, seed=99)
    assert again == news_for_events(history.events, assets=DEMO_UNIVERSE, seed=99)
    assert again != news_for_events(history.events, assets=DEMO_UNIVERSE, seed=100)


def test_sentiment_mostly_matches_the_move_but_not_always(history: MarketHistory):
    scored = [
        (lexicon_sign(item.headline), item.true_direction)
        for item in history.news
        if item.true_direction != 0 and set(item.symbols) <= STOCKS
    ]
    signed = [(sign, truth) for sign, truth in scored if sign != 0]
    agreement = np.mean([sign == truth for sign, truth in signed])
    assert 0.7 < agreement < 0.97
    assert len(signed) < len(scored)  # some headlines are neutral


def test_some_news_leads_the_price_by_a_day(history: MarketHistory):
    rng = np.random.default_rng(4)
    company = [e for e in history.events if e.scope is EventScope.COMPANY and e.direction != 0]
    timing = []
    for event in company[:600]:
        first = headlines_for_event(event, assets=BY_SYMBOL, rng=rng)[0].published_at
        timing.append(
            "early"
            if first < new_york_moment(event.day, time(0, 0))
            else "late"
            if first >= new_york_moment(event.day, time(16, 0))
            else "same day"
        )
    shares = {label: timing.count(label) / len(timing) for label in ("early", "same day", "late")}
    assert 0.08 < shares["early"] < 0.25
    assert shares["same day"] > 0.5
    assert shares["late"] > 0.05


def test_news_on_a_day(history: MarketHistory):
    item = history.news[len(history.news) // 2]
    day = item.published_at.astimezone(NEW_YORK).date()
    items = news_on(history.news, day)
    assert item in items
    assert all(i.published_at.astimezone(NEW_YORK).date() == day for i in items)


def test_rate_and_sector_news_name_the_right_instruments():
    rng = np.random.default_rng(1)
    hike = MarketEvent(
        date(2024, 6, 12),
        EventKind.RATE_DECISION,
        EventScope.RATES,
        "rates",
        ("ZAGB", "ZLTT", "ZITT"),
        -1,
        0.0007,
        "hike",
    )
    for item in headlines_for_event(hike, assets=BY_SYMBOL, rng=rng):
        assert set(item.symbols) <= {"ZAGB", "ZLTT", "ZITT"}
        assert item.true_direction == -1
    moment = datetime(2024, 6, 12, 15, 0, tzinfo=UTC)
    sector = MarketEvent(
        date(2024, 6, 12), EventKind.SECTOR, EventScope.SECTOR, "energy", ("PTRX", "GFLD"), 1, 0.03
    )
    items = headlines_for_event(sector, assets=BY_SYMBOL, rng=rng, published_at=moment)
    assert all(item.published_at == moment for item in items)


def test_unknown_company_is_refused():
    event = MarketEvent(
        date(2024, 6, 12), EventKind.EARNINGS, EventScope.COMPANY, "NOPE", ("NOPE",), 1, 0.04
    )
    with pytest.raises(InvalidInput, match="NOPE"):
        headlines_for_event(event, assets=BY_SYMBOL, rng=np.random.default_rng(0))
