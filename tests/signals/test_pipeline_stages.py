"""The signal pipeline's stages on a small seeded market with news."""

import datetime as dt
from decimal import Decimal

import numpy as np
import pytest

from portfolios.models import Asset, FirmSettings, PriceBar
from signals.core.divergence import sentiment_divergence_signal
from signals.core.indicators import bollinger_signal, macd_signal, rsi_signal
from signals.core.meanreversion import mean_reversion_signal
from signals.core.regime import volatility_regime_signal
from signals.core.types import SignalKind
from signals.ingest.books import BookSnapshot
from signals.ingest.prices import AlpacaDailyBars
from signals.ingest.types import IncomingNews
from signals.models import (
    DetectedSignal,
    DetectorScan,
    HitRateEstimate,
    NewsItem,
    OrderBookSnapshot,
    SentimentScore,
    ViewSnapshot,
)
from signals.pipeline import (
    history_times,
    stage_detect,
    stage_ingest,
    stage_score,
    stage_views,
)
from signals.selectors import close_frame, daily_sentiment
from signals.sentiment import get_scorer
from signals.sentiment.types import SentimentScore as Score
from tests.signals.pipeline_market import AS_OF, market_with_news, record_right_history

pytestmark = pytest.mark.django_db


@pytest.fixture
def market():
    return market_with_news()


class CountingScorer:
    """The embedded scorer, counting the texts it is asked to score."""

    name = "embedded"

    def __init__(self):
        self.inner = get_scorer("embedded")
        self.texts = 0

    def score_batch(self, texts):
        self.texts += len(texts)
        return self.inner.score_batch(texts)


def test_scoring_scores_each_visible_headline_once(market):
    late = NewsItem.objects.create(
        source="Late Wire",
        headline="Published before, ingested after the run",
        published_at=AS_OF - dt.timedelta(hours=2),
        ingested_at=AS_OF + dt.timedelta(hours=1),
        content_hash="late",
    )
    first = NewsItem.objects.exclude(pk=late.pk).order_by("pk").first()
    SentimentScore.objects.create(
        news=first,
        backend="embedded",
        label="neutral",
        score=0.0,
        p_negative=0.25,
        p_neutral=0.5,
        p_positive=0.25,
        scored_at=AS_OF - dt.timedelta(days=1),
    )
    visible = NewsItem.objects.filter(ingested_at__lte=AS_OF).count()
    scorer = CountingScorer()
    result = stage_score(run="r1", now=AS_OF, scorer=scorer)
    assert result.counts["scored"] == visible - 1 == scorer.texts
    assert result.counts["remaining"] == 0
    assert SentimentScore.objects.filter(backend="embedded").count() == visible
    assert not SentimentScore.objects.filter(news=late).exists()
    assert SentimentScore.objects.get(news=first).scored_at == AS_OF - dt.timedelta(days=1)

    again = stage_score(run="r2", now=AS_OF, scorer=scorer)
    assert again.counts["scored"] == 0 and scorer.texts == visible - 1
    later = stage_score(run="r3", now=AS_OF + dt.timedelta(hours=2), scorer=scorer)
    assert later.counts["scored"] == 1
    scored = SentimentScore.objects.get(news=late)
    assert scored.score == pytest.approx(
        get_scorer("embedded").score_batch([late.headline])[0].score
    )


def test_scoring_stops_at_its_time_budget_and_resumes(market):
    scorer = CountingScorer()
    result = stage_score(run="r1", now=AS_OF, scorer=scorer, time_budget=0.0)
    total = NewsItem.objects.count()
    assert result.counts["batches"] == 1 and result.counts["remaining"] == total - 256
    assert "left for the next run" in result.notes[-1]
    stage_score(run="r2", now=AS_OF, scorer=scorer)
    assert SentimentScore.objects.count() == total == scorer.texts


def test_scores_of_another_backend_do_not_count(market):
    class Other:
        name = "fingpt"

        def score_batch(self, texts):
            return [Score.from_probabilities((0.1, 0.1, 0.8)) for _ in texts]

    stage_score(run="r1", now=AS_OF, scorer=Other())
    assert stage_score(run="r2", now=AS_OF, scorer=CountingScorer()).counts["scored"] == (
        NewsItem.objects.count()
    )
    assert SentimentScore.objects.values("news").distinct().count() == NewsItem.objects.count()


def test_detect_stores_signals_whose_windows_end_by_their_time(market):
    stage_score(run="r1", now=AS_OF, scorer=CountingScorer())
    result = stage_detect(run="r1", now=AS_OF)
    signals = list(DetectedSignal.objects.all())
    assert signals and result.counts["signals"] == len(signals)
    assert all(s.window_start <= s.window_end <= s.as_of <= AS_OF for s in signals)
    latest_close = dt.datetime(2025, 6, 30, 20, 0, tzinfo=dt.UTC)
    current = {s.kind for s in signals if s.as_of == latest_close}
    assert {"rsi", "macd", "bollinger", "volatility_regime"} <= current
    assert result.counts["assets"] == Asset.objects.count() == 8
    # history: each daily kind at every Friday close of the past 26 weeks, and the latest close
    closes = close_frame(as_of=AS_OF, asset_ids=Asset.objects.values_list("pk", flat=True))
    times = history_times(closes.index, weeks=26)
    assert len(times) == 27 and times[-1] == latest_close
    rsi = DetectedSignal.objects.filter(kind="rsi", asset__symbol="USA1")
    assert sorted(rsi.values_list("as_of", flat=True)) == [t.to_pydatetime() for t in times]
    assert DetectorScan.objects.filter(kind="rsi").count() == 27

    # a second run recomputes the current signals only, and writes no new history
    before = DetectedSignal.objects.count()
    again = stage_detect(run="r2", now=AS_OF)
    assert DetectedSignal.objects.count() == before
    assert again.counts["signals"] == again.counts["current"]
    assert set(DetectedSignal.objects.filter(run="r2").values_list("as_of", flat=True)) == {
        latest_close
    }


def test_the_stored_history_is_what_each_detector_says_at_that_time(market):
    """The vectorised history equals the detectors' own ``*_signal(..., as_of=t)``."""
    stage_score(run="r1", now=AS_OF, scorer=CountingScorer())
    stage_detect(run="r1", now=AS_OF)
    ids = list(Asset.objects.values_list("pk", flat=True))
    closes = close_frame(as_of=AS_OF, asset_ids=ids)
    sentiment = daily_sentiment(
        as_of=AS_OF, backend="embedded", sessions=closes.index, asset_ids=ids
    )
    detectors = {
        "rsi": rsi_signal,
        "macd": macd_signal,
        "bollinger": bollinger_signal,
        "volatility_regime": volatility_regime_signal,
        "mean_reversion": mean_reversion_signal,
    }
    checked = set()
    rows = DetectedSignal.objects.select_related("asset").order_by("as_of", "kind", "asset_id")
    for row in rows.filter(kind__in=[*detectors, "sentiment_divergence"])[::9]:
        symbol = row.asset.symbol
        # what was known at t: the detectors cut their inputs at as_of themselves
        close = closes[symbol].dropna()
        if row.kind == "sentiment_divergence":
            expected = sentiment_divergence_signal(
                sentiment[symbol], close, asset=symbol, as_of=row.as_of
            )
        else:
            expected = detectors[row.kind](close, asset=symbol, as_of=row.as_of)
        assert expected is not None, (row.kind, row.as_of)
        assert row.value == pytest.approx(expected.value, rel=1e-9, abs=1e-12)
        assert row.confidence == pytest.approx(expected.confidence, rel=1e-9, abs=1e-12)
        assert (row.window_start, row.window_end) == (expected.window_start, expected.window_end)
        checked.add(row.kind)
    assert checked >= {"rsi", "macd", "bollinger", "volatility_regime"}
    assert checked & {"sentiment_divergence", "mean_reversion"}


def test_views_respect_the_cap_and_have_the_shape_recommendations_read(market):
    firm = FirmSettings.current()
    firm.view_max_tilt = Decimal("0.0100")
    firm.save()
    stage_score(run="r1", now=AS_OF, scorer=CountingScorer())
    record_right_history(SignalKind.MACD)
    record_right_history(SignalKind.BOLLINGER)
    stage_detect(run="r1", now=AS_OF)
    result = stage_views(run="r1", now=AS_OF)
    snapshot = ViewSnapshot.objects.get(as_of=AS_OF)
    assert snapshot.symbols == sorted(Asset.objects.values_list("symbol", flat=True))
    assert result.counts["views"] == len(snapshot.views) > 0
    exposure = np.zeros(len(snapshot.symbols))
    for view in snapshot.views:
        assert {"p", "tilt", "confidence", "explanation", "kinds"} <= set(view)
        assert len(view["p"]) == len(snapshot.symbols)
        assert 0 < view["confidence"] <= 1 and isinstance(view["explanation"], str)
        assert view["kinds"] and all(isinstance(k, str) for k in view["kinds"])
        assert f"tilted {view['tilt']:+.1%}".replace("-", "\u2212") in view["explanation"]
        exposure += np.abs(view["p"]) * abs(view["tilt"])
    assert exposure.max() <= 0.01 + 1e-12
    assert exposure.max() == pytest.approx(0.01)
    macd = HitRateEstimate.objects.get(as_of=AS_OF, kind="macd")
    assert macd.trials > 100 and macd.hits / macd.trials > 0.9 and macd.view_confidence > 0.5
    assert {"macd"} <= {k for v in snapshot.views for k in v["kinds"]}
    # views are stored once per time, whatever the number of runs
    stage_views(run="r2", now=AS_OF)
    assert ViewSnapshot.objects.filter(as_of=AS_OF).count() == 1


def test_views_leave_out_kinds_that_have_not_been_right(market):
    stage_score(run="r1", now=AS_OF, scorer=CountingScorer())
    stage_detect(run="r1", now=AS_OF)
    stage_views(run="r1", now=AS_OF)
    rates = {h.kind: h for h in HitRateEstimate.objects.filter(as_of=AS_OF)}
    snapshot = ViewSnapshot.objects.get(as_of=AS_OF)
    for view in snapshot.views:
        for kind in view["kinds"]:
            assert rates[kind].view_confidence > 0
    assert {"rsi", "macd", "bollinger"} <= set(rates)
    assert "volatility_regime" not in rates  # no direction, no hit rate


class FakeBookFeed:
    """Two venues quoting one symbol (the second one's bid above the first one's ask), and a
    symbol outside the universe."""

    name = "test-books"

    def __init__(self, sizes):
        self.sizes = iter(sizes)

    def snapshots(self, symbols, *, now):
        bid_size, ask_size = next(self.sizes)
        books = [
            BookSnapshot(
                "OILX",
                "venue-a",
                now - dt.timedelta(seconds=1),
                bids=(("100.00", bid_size), ("99.99", "50")),
                asks=(("100.02", ask_size), ("100.03", "50")),
                taker_fee_bps="1",
            ),
            BookSnapshot(
                "ZZZZ",
                "venue-a",
                now - dt.timedelta(seconds=1),
                bids=(("1", "1"),),
                asks=(("2", "1"),),
            ),
        ]
        if bid_size == "500":  # the second venue quotes once, at the end
            books.append(
                BookSnapshot(
                    "OILX",
                    "venue-b",
                    now - dt.timedelta(seconds=2),
                    bids=(("100.10", "300"),),
                    asks=(("100.12", "300"),),
                )
            )
        return books


def test_books_feed_order_flow_microprice_and_cross_venue_signals(market):
    feed = FakeBookFeed([("100", "100"), ("300", "100"), ("500", "80")])
    for minutes in (20, 10, 0):
        now = AS_OF - dt.timedelta(minutes=minutes)
        result = stage_ingest(
            run="r",
            now=now,
            news_feeds=[],
            book_feeds=[feed],
            bar_source=None,
            clock=lambda now=now: now,
        )
        assert result.counts["books"] == (2 if minutes == 0 else 1)
    assert OrderBookSnapshot.objects.count() == 4
    stored = OrderBookSnapshot.objects.filter(venue="venue-a").order_by("captured_at").last()
    assert stored.depth == [["99.990000", "50.000000000", "100.030000", "50.000000000"]]
    assert stored.taker_fee_bps == Decimal("1.000")

    stage_detect(run="r", now=AS_OF)
    book = {s.kind: s for s in DetectedSignal.objects.filter(as_of=AS_OF, asset__symbol="OILX")}
    assert set(book) == {"depth_imbalance", "microprice", "order_flow_imbalance", "cross_venue_gap"}
    assert book["order_flow_imbalance"].value > 0  # bids kept growing: buying pressure
    assert book["microprice"].value > 0  # more bid than offered at the top
    gap = book["cross_venue_gap"]
    assert gap.details["buy_venue"] == "venue-a" and gap.details["sell_venue"] == "venue-b"
    assert gap.value > 0
    assert all(s.window_end <= AS_OF for s in book.values())


def test_books_captured_after_they_arrive_are_refused(market):
    class FutureFeed:
        name = "future"

        def snapshots(self, symbols, *, now):
            return [
                BookSnapshot(
                    "OILX",
                    "v",
                    now + dt.timedelta(seconds=5),
                    bids=(("1", "1"),),
                    asks=(("2", "1"),),
                )
            ]

    result = stage_ingest(
        run="r", now=AS_OF, news_feeds=[], book_feeds=[FutureFeed()], clock=lambda: AS_OF
    )
    assert result.counts["feeds_failed"] == 1 and "after it was received" in result.notes[0]
    assert not OrderBookSnapshot.objects.exists()


def test_ingest_reads_news_and_bars_and_survives_a_failing_feed(market):
    now = dt.datetime(2025, 7, 1, 21, 0, tzinfo=dt.UTC)

    class NewsFeed:
        name = "test-news"

        def items(self, *, since, now):
            return [
                IncomingNews(
                    source="Wire",
                    headline="USA1 Fund draws record inflows",
                    published_at=now - dt.timedelta(hours=1),
                    symbols=("USA1",),
                )
            ]

    class BrokenFeed:
        name = "broken"

        def items(self, *, since, now):
            raise ConnectionError("feed unreachable")

    class FakeClient:
        def get_stock_bars(self, request):
            from alpaca.data.models import BarSet

            self.request = request
            return BarSet(
                {
                    "USA1": [
                        {
                            "t": "2025-07-01T04:00:00Z",
                            "o": 100,
                            "h": 102,
                            "l": 99,
                            "c": 101,
                            "v": 10,
                            "n": 3,
                            "vw": 100.5,
                        }
                    ]
                }
            )

    client = FakeClient()
    result = stage_ingest(
        run="r",
        now=now,
        news_feeds=[BrokenFeed(), NewsFeed()],
        book_feeds=[],
        bar_source=AlpacaDailyBars(api_key="k", secret_key="s", client=client),
        clock=lambda: now,
    )
    assert result.counts["news"] == 1 and result.counts["bars"] == 1
    assert (
        result.counts["feeds_failed"] == 1 and "broken failed: ConnectionError" in result.notes[0]
    )
    item = NewsItem.objects.get(headline="USA1 Fund draws record inflows")
    assert item.ingested_at == now and [a.symbol for a in item.assets.all()] == ["USA1"]
    bar = PriceBar.objects.get(asset__symbol="USA1", date=dt.date(2025, 7, 1))
    assert bar.source == PriceBar.Source.ALPACA and bar.close == Decimal("101")
    # bars are asked for from the last stored day on, so today's partial bar is refreshed
    assert client.request.start.date() == dt.date(2025, 6, 30)


def test_a_run_for_a_past_time_reads_no_live_feed(market):
    class NewsFeed:
        name = "must-not-run"

        def items(self, *, since, now):
            raise AssertionError("a feed was read for a past time")

    result = stage_ingest(
        run="r",
        now=AS_OF,
        news_feeds=[NewsFeed()],
        book_feeds=[],
        clock=lambda: AS_OF + dt.timedelta(days=1),
    )
    assert result.counts == {"bars": 0, "news": 0, "books": 0}
    assert "feeds not read" in result.notes[0]


def test_detect_with_no_prices_stores_nothing(db):
    result = stage_detect(run="r", now=AS_OF)
    assert result.counts == {"assets": 0, "signals": 0}
    assert stage_views(run="r", now=AS_OF).counts == {"views": 0}
    assert not ViewSnapshot.objects.exists()
