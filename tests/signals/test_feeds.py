"""Feed conversions on payloads shaped like the vendors' (alpaca-py models, RSS and Atom XML).

No network: the alpaca-py models are built from raw API dictionaries, feedparser parses strings,
and the feeds' clients are fakes at the client's interface.
"""

import datetime as dt
from decimal import Decimal

import feedparser
import pytest
from alpaca.data.models import BarSet, Quote
from alpaca.data.models.news import NewsSet

from portfolios.core.errors import InvalidInput
from signals.ingest.books import AlpacaQuoteFeed, BookSnapshot, book_snapshots_from_alpaca_quotes
from signals.ingest.news import (
    AlpacaNewsFeed,
    RssFeed,
    incoming_from_alpaca_news,
    incoming_from_feed,
    symbols_mentioned,
)
from signals.ingest.prices import AlpacaDailyBars, parsed_prices_from_alpaca_bars

NOW = dt.datetime(2024, 3, 4, 21, 0, tzinfo=dt.UTC)


def raw_bar(day: str, close: float, **overrides: float) -> dict:
    bar = {"t": f"{day}T05:00:00Z", "o": close - 0.5, "h": close + 1, "l": close - 1, "c": close}
    return {**bar, "v": 12_345, "n": 10, "vw": close, **overrides}


def test_alpaca_bars_become_validated_daily_rows():
    bars = BarSet(
        {
            "XOM": [raw_bar("2024-03-01", 100.75), raw_bar("2024-03-04", 101.25)],
            "aapl": [raw_bar("2024-03-01", 180.0), raw_bar("2024-03-05", 181.0)],
        }
    )
    converted = parsed_prices_from_alpaca_bars(bars, today=dt.date(2024, 3, 4))
    parsed = converted.parsed
    assert parsed.ok and parsed.symbols == {"XOM", "AAPL"}
    assert [(b.symbol, b.date) for b in parsed.bars] == [
        ("AAPL", dt.date(2024, 3, 1)),
        ("XOM", dt.date(2024, 3, 1)),
        ("XOM", dt.date(2024, 3, 4)),
    ]
    first = parsed.bars[1]
    # the session starts at 05:00 UTC, midnight in New York: the bar is dated that day
    assert first.close == Decimal("100.750000") and first.volume == 12_345
    assert first.low <= first.open <= first.high
    assert converted.skipped == ["AAPL 2024-03-05: dated after 2024-03-04"]


def test_alpaca_bars_with_bad_numbers_are_left_out_with_a_reason():
    bars = BarSet(
        {
            "XOM": [
                raw_bar("2024-03-01", 100.0, c=0.0, l=0.0),
                raw_bar("2024-03-04", 100.0, h=90.0, l=95.0),
                raw_bar("2024-02-29", 99.0),
            ]
        }
    )
    converted = parsed_prices_from_alpaca_bars(bars, today=dt.date(2024, 3, 4))
    assert [b.date for b in converted.parsed.bars] == [dt.date(2024, 2, 29)]
    assert len(converted.skipped) == 2
    assert "non-positive" in converted.skipped[0] and "high below low" in converted.skipped[1]


def test_alpaca_bar_source_asks_for_adjusted_daily_bars():
    class FakeClient:
        def get_stock_bars(self, request):
            self.request = request
            return BarSet({"XOM": [raw_bar("2024-03-01", 100.0)]})

    client = FakeClient()
    source = AlpacaDailyBars(api_key="k", secret_key="s", client=client)
    fetched = source.fetch(["XOM"], start=NOW - dt.timedelta(days=5), now=NOW)
    assert [b.symbol for b in fetched.parsed.bars] == ["XOM"]
    assert client.request.timeframe.value == "1Day"
    assert client.request.adjustment.value == "all"
    assert client.request.feed.value == "iex"


def raw_article(number: int, created: str, **overrides) -> dict:
    article = {
        "id": number,
        "headline": f"Exxon <b>beats</b> estimates &amp; raises dividend {number}",
        "source": "benzinga",
        "url": f"https://example.com/{number}",
        "summary": "<p>Quarterly profit rose.</p>",
        "created_at": created,
        "updated_at": created,
        "symbols": ["XOM", "cvx"],
        "author": "A. Writer",
        "content": "",
    }
    return {**article, **overrides}


def test_alpaca_news_become_incoming_items():
    news = NewsSet(
        {
            "news": [
                raw_article(1, "2024-03-01T14:00:00Z"),
                raw_article(2, "2024-03-05T14:00:00Z"),  # after now
                raw_article(3, "2024-03-01T15:00:00Z", headline="  "),
            ],
            "next_page_token": None,
        }
    )
    items = incoming_from_alpaca_news(news.data["news"], now=NOW)
    assert len(items) == 1
    item = items[0]
    assert item.headline == "Exxon beats estimates & raises dividend 1"
    assert item.summary == "Quarterly profit rose."
    assert item.symbols == ("XOM", "CVX")
    assert item.source == "benzinga" and item.external_id == "alpaca:1"
    assert item.published_at == dt.datetime(2024, 3, 1, 14, tzinfo=dt.UTC)


def test_alpaca_news_feed_keeps_only_news_after_since():
    class FakeNewsClient:
        def get_news(self, request):
            self.request = request
            return NewsSet(
                {
                    "news": [
                        raw_article(1, "2024-03-01T14:00:00Z"),
                        raw_article(2, "2024-03-02T14:00:00Z"),
                    ],
                    "next_page_token": None,
                }
            )

    client = FakeNewsClient()
    feed = AlpacaNewsFeed(api_key="k", secret_key="s", symbols=["XOM", "CVX"], client=client)
    since = dt.datetime(2024, 3, 1, 14, tzinfo=dt.UTC)
    items = feed.items(since=since, now=NOW)
    assert [i.external_id for i in items] == ["alpaca:2"]
    assert client.request.symbols == "XOM,CVX"


def test_alpaca_feeds_need_keys():
    with pytest.raises(InvalidInput):
        AlpacaNewsFeed(api_key="", secret_key="s", symbols=["XOM"])
    with pytest.raises(InvalidInput):
        AlpacaQuoteFeed(api_key="k", secret_key="")


def raw_quote(bid: float, ask: float, stamp: str = "2024-03-04T20:59:59.5Z", **extra) -> dict:
    return {"t": stamp, "bp": bid, "bs": 3, "ap": ask, "as": 5, "bx": "V", "ax": "V", **extra}


def test_alpaca_quotes_become_level_one_books():
    quotes = {
        "XOM": Quote("XOM", raw_quote(100.10, 100.12)),
        "CVX": Quote("CVX", raw_quote(0.0, 150.0)),  # one-sided, as outside trading hours
        "AAPL": Quote("AAPL", raw_quote(181.0, 180.0)),  # crossed
        "MSFT": Quote("MSFT", raw_quote(400.0, 400.1, stamp="2024-03-05T15:00:00Z")),
    }
    books, skipped = book_snapshots_from_alpaca_quotes(quotes, venue="alpaca-iex", now=NOW)
    assert [b.symbol for b in books] == ["XOM"]
    book = books[0]
    assert book.bids == ((Decimal("100.100000"), Decimal("3.000000000")),)
    assert book.asks == ((Decimal("100.120000"), Decimal("5.000000000")),)
    assert book.venue == "alpaca-iex" and book.captured_at.tzinfo == dt.UTC
    reasons = " | ".join(skipped)
    assert "CVX: one-sided" in reasons and "crossed" in reasons and "MSFT: quote stamped" in reasons


def test_alpaca_quote_feed_requests_the_configured_data_feed():
    class FakeClient:
        def get_stock_latest_quote(self, request):
            self.request = request
            return {"XOM": Quote("XOM", raw_quote(100.10, 100.12))}

    client = FakeClient()
    feed = AlpacaQuoteFeed(api_key="k", secret_key="s", data_feed="sip", client=client)
    books = feed.snapshots(["XOM"], now=NOW)
    assert client.request.feed.value == "sip" and client.request.symbol_or_symbols == ["XOM"]
    assert books[0].venue == "alpaca-sip" and feed.name == "alpaca-quotes"


def test_a_book_snapshot_refuses_what_is_not_a_book():
    stamp = NOW
    with pytest.raises(InvalidInput, match="crossed"):
        BookSnapshot("XOM", "v", stamp, bids=(("10.2", "1"),), asks=(("10.1", "1"),))
    with pytest.raises(InvalidInput, match="fall level by level"):
        BookSnapshot("XOM", "v", stamp, bids=(("10", "1"), ("10.1", "1")), asks=(("10.2", "1"),))
    with pytest.raises(InvalidInput, match="negative"):
        BookSnapshot("XOM", "v", stamp, bids=(("10", "-1"),), asks=(("10.2", "1"),))
    naive = dt.datetime(2024, 3, 4)  # noqa: DTZ001 - naive on purpose
    with pytest.raises(InvalidInput, match="aware"):
        BookSnapshot("XOM", "v", naive, bids=(("10", "1"),), asks=(("11", "1"),))
    book = BookSnapshot(
        "xom", "v", stamp, bids=(("10", "1"), ("9.9", "2")), asks=(("10.1", "1"), ("10.2", "4"))
    )
    assert book.symbol == "XOM" and book.levels == 2 and book.bids[1] == (Decimal("9.9"), 2)


RSS = """<?xml version="1.0"?>
<rss version="2.0"><channel><title>Energy Wire</title>
<item><title>Exxon (NYSE: XOM) lifts output target</title><link>https://example.com/1</link>
<guid>energy-1</guid><pubDate>Fri, 01 Mar 2024 14:00:00 GMT</pubDate>
<description>&lt;p&gt;Shares of $CVX fell.&lt;/p&gt;</description><category>OILX</category></item>
<item><title>Oil prices steady</title><link>https://example.com/2</link></item>
<item><title>Tomorrow's news</title><pubDate>Tue, 05 Mar 2024 14:00:00 GMT</pubDate></item>
<item><title></title><pubDate>Fri, 01 Mar 2024 15:00:00 GMT</pubDate></item>
</channel></rss>"""

ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Funds Daily</title>
<entry><title>Bond funds draw inflows</title><id>urn:funds:1</id>
<link href="https://example.com/funds/1"/><updated>2024-03-02T10:30:00Z</updated>
<summary>Investors added to $BOND.</summary></entry>
</feed>"""


def test_rss_entries_become_items_with_the_symbols_they_name():
    parsed = feedparser.parse(RSS)
    items = incoming_from_feed(parsed, source=None, now=NOW, known=frozenset({"XOM", "OILX"}))
    assert [i.headline for i in items] == [
        "Exxon (NYSE: XOM) lifts output target",
        "Oil prices steady",
    ]
    first, undated = items
    assert first.source == "Energy Wire"
    assert first.published_at == dt.datetime(2024, 3, 1, 14, tzinfo=dt.UTC)
    assert first.summary == "Shares of $CVX fell."
    # CVX is named by cashtag but not in the universe; OILX is a category in the universe
    assert first.symbols == ("OILX", "XOM")
    assert first.external_id == "rss:energy-1" and first.url == "https://example.com/1"
    assert undated.published_at == NOW  # first seen now
    assert undated.symbols == ()


def test_atom_entries_and_fixed_feed_symbols():
    items = incoming_from_feed(
        feedparser.parse(ATOM), source="Funds Daily", now=NOW, symbols=["bnd2"]
    )
    assert len(items) == 1
    assert items[0].published_at == dt.datetime(2024, 3, 2, 10, 30, tzinfo=dt.UTC)
    assert items[0].symbols == ("BND2", "BOND")


def test_rss_feed_reads_its_setting_and_the_url(monkeypatch):
    feed = RssFeed.from_setting("https://example.com/rss XOM,cvx")
    assert feed.url == "https://example.com/rss" and feed.symbols == ("XOM", "cvx")
    monkeypatch.setattr(feedparser, "parse", _parsed)
    items = feed.items(since=dt.datetime(2024, 3, 1, 12, tzinfo=dt.UTC), now=NOW)
    assert [i.headline for i in items] == [
        "Exxon (NYSE: XOM) lifts output target",
        "Oil prices steady",
    ]
    assert all({"XOM", "CVX"} <= set(i.symbols) for i in items)


_PARSE = feedparser.parse


def _parsed(url: str):
    assert url == "https://example.com/rss"
    return _PARSE(RSS)


def test_an_unreadable_feed_says_so(monkeypatch):
    monkeypatch.setattr(
        feedparser,
        "parse",
        lambda url: feedparser.util.FeedParserDict(
            bozo=True, bozo_exception=OSError("connection refused"), entries=[], feed={}
        ),
    )
    with pytest.raises(InvalidInput, match="could not be read"):
        RssFeed("https://example.com/rss").items(since=None, now=NOW)


def test_symbols_mentioned_reads_cashtags_and_exchange_notes_only():
    text = "Apple (NASDAQ: AAPL) and $msft rise; IT and AI stocks lead"
    assert symbols_mentioned(text) == ("MSFT", "AAPL")
    assert symbols_mentioned(text, known=frozenset({"AAPL"})) == ("AAPL",)
