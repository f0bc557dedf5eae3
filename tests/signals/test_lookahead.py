"""No look-ahead: a computation for time t sees nothing published or ingested after t.

The selectors hide news published after t and news ingested after t (even when it was published
before); daily bars count from their session's close. The detect stage run at t gives the same
signals whether or not later news, later scores and later prices exist.
"""

import datetime as dt

import pandas as pd
import pytest

from portfolios.models import Asset, PriceBar
from signals.models import DetectedSignal, DetectorScan, NewsItem, SentimentScore
from signals.pipeline import stage_detect, stage_score
from signals.selectors import (
    close_frame,
    daily_sentiment,
    last_closed_day,
    session_close,
    unscored_news,
    visible_news,
)
from signals.sentiment import get_scorer
from tests.signals.pipeline_market import AS_OF, market_with_news

pytestmark = pytest.mark.django_db

T = dt.datetime(2025, 5, 30, 20, 30, tzinfo=dt.UTC)  # a Friday, after the close


def news(headline, published, ingested, assets=()):
    item = NewsItem.objects.create(
        source="Wire",
        headline=headline,
        published_at=published,
        ingested_at=ingested,
        content_hash=headline,
        symbols=[a.symbol for a in assets],
    )
    item.assets.set(assets)
    return item


def test_news_ingested_after_t_is_invisible_even_if_published_before(db):
    asset = Asset.objects.create(symbol="XOM", name="Exxon", asset_class="us_equity")
    on_time = news(
        "Exxon output rises", T - dt.timedelta(hours=3), T - dt.timedelta(hours=2), [asset]
    )
    late = news(
        "Exxon shares plunge on fraud probe",
        T - dt.timedelta(hours=3),
        T + dt.timedelta(minutes=1),
        [asset],
    )
    future = news("Exxon slumps", T + dt.timedelta(hours=1), T + dt.timedelta(hours=1), [asset])
    assert list(visible_news(as_of=T)) == [on_time]
    assert list(unscored_news(backend="embedded", as_of=T)) == [on_time]
    assert set(visible_news(as_of=T + dt.timedelta(hours=1))) == {on_time, late, future}

    scorer = get_scorer("embedded")
    for item in (on_time, late, future):
        score = scorer.score_batch([item.headline])[0]
        SentimentScore.objects.create(
            news=item,
            backend="embedded",
            label=score.label,
            score=score.score,
            p_negative=score.probabilities[0],
            p_neutral=score.probabilities[1],
            p_positive=score.probabilities[2],
            scored_at=T + dt.timedelta(hours=2),
        )
    sessions = pd.DatetimeIndex([session_close(dt.date(2025, 5, d)) for d in (29, 30)])
    sentiment = daily_sentiment(
        as_of=T, backend="embedded", sessions=sessions, asset_ids=[asset.pk]
    )
    # only the item visible at T counts, in the session that closed after it became visible
    expected = scorer.score_batch([on_time.headline])[0].score
    assert sentiment["XOM"].to_dict() == {sessions[1]: pytest.approx(expected)}


def test_a_bar_counts_from_its_session_close(db):
    asset = Asset.objects.create(symbol="XOM", name="Exxon", asset_class="us_equity")
    for day, close in ((dt.date(2025, 5, 29), "100"), (dt.date(2025, 5, 30), "101")):
        PriceBar.objects.create(
            asset=asset, date=day, open=close, high=close, low=close, close=close
        )
    close_at = session_close(dt.date(2025, 5, 30))
    assert close_at == dt.datetime(2025, 5, 30, 20, 0, tzinfo=dt.UTC)  # 16:00 New York (EDT)
    assert last_closed_day(close_at - dt.timedelta(seconds=1)) == dt.date(2025, 5, 29)
    during = close_frame(as_of=close_at - dt.timedelta(minutes=30), asset_ids=[asset.pk])
    after = close_frame(as_of=close_at, asset_ids=[asset.pk])
    assert list(during["XOM"]) == [100.0]
    assert list(after["XOM"]) == [100.0, 101.0]
    assert after.index[-1] == close_at
    winter = session_close(dt.date(2025, 1, 6))
    assert winter == dt.datetime(2025, 1, 6, 21, 0, tzinfo=dt.UTC)  # 16:00 New York (EST)


def _signals() -> dict:
    return {
        (s.asset_id, s.kind, s.as_of): (
            s.value,
            s.confidence,
            s.window_start,
            s.window_end,
            s.details,
        )
        for s in DetectedSignal.objects.all()
    }


def _inputs(assets) -> tuple[pd.DataFrame, dict]:
    ids = [a.pk for a in assets]
    closes = close_frame(as_of=T, asset_ids=ids)
    sentiment = daily_sentiment(as_of=T, backend="embedded", sessions=closes.index, asset_ids=ids)
    return closes, sentiment


def test_detect_at_t_is_the_same_whether_or_not_later_data_exists():
    assets = market_with_news()  # bars and news to 2025-06-30, a month after T
    # published in the days before T but known only after it: must not count at T
    for asset in assets:
        for days in (1, 3, 6):
            news(
                f"{asset.name} collapses as fraud probe widens ({days})",
                T - dt.timedelta(days=days),
                T + dt.timedelta(hours=2),
                [asset],
            )
    stage_score(run="late", now=AS_OF)  # every headline scored, later ones included
    assert SentimentScore.objects.count() == NewsItem.objects.count()
    closes, sentiment = _inputs(assets)
    stage_detect(run="with-later-data", now=T)
    with_later = _signals()
    assert with_later and all(at <= T for _, _, at in with_later)
    assert {kind for _, kind, _ in with_later} >= {"rsi", "macd", "sentiment_divergence"}

    DetectedSignal.objects.all().delete()
    DetectorScan.objects.all().delete()
    PriceBar.objects.filter(date__gt=T.date()).delete()
    NewsItem.objects.filter(published_at__gt=T).delete()
    NewsItem.objects.filter(ingested_at__gt=T).delete()
    closes_without, sentiment_without = _inputs(assets)
    pd.testing.assert_frame_equal(closes_without, closes)
    assert sentiment_without.keys() == sentiment.keys()
    for symbol, series in sentiment.items():
        pd.testing.assert_series_equal(sentiment_without[symbol], series)
    stage_detect(run="without-later-data", now=T)
    assert _signals() == with_later
