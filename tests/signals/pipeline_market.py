"""A small market with news for pipeline tests: the seeded ETFs of ``build_market`` (420 daily
bars to 2025-06-30) and a seeded stream of headlines about them."""

import datetime as dt

import numpy as np

from portfolios.models import Asset
from signals.core.types import SignalKind
from signals.ingest.types import IncomingNews
from signals.models import DetectedSignal
from signals.pipeline import DAILY_HORIZON, history_times
from signals.selectors import close_frame
from signals.services import news_items_ingest
from tests.advisor.services.market import build_market

#: After the 2025-06-30 close (16:00 New York is 20:00 UTC in summer).
AS_OF = dt.datetime(2025, 6, 30, 21, 30, tzinfo=dt.UTC)
END = dt.date(2025, 6, 30)

GOOD = [
    "{name} shares jump after record quarterly profit",
    "{name} beats expectations and raises guidance",
    "Analysts upgrade {name} on strong demand",
]
BAD = [
    "{name} shares tumble after profit warning",
    "{name} misses estimates as costs surge",
    "Regulators probe {name}; outflows accelerate",
]


def seed_news(
    assets: list[Asset], *, days: int = 420, end: dt.date = END, seed: int = 11, rate: float = 0.35
) -> int:
    """Headlines on about ``rate`` of the days for each asset, published at 14:00 UTC and ingested
    five minutes later; returns how many were stored."""
    rng = np.random.default_rng(seed)
    items = []
    for asset in assets:
        for k in range(days):
            day = end - dt.timedelta(days=days - 1 - k)
            if rng.random() > rate:
                continue
            template = (GOOD if rng.random() < 0.5 else BAD)[int(rng.integers(3))]
            published = dt.datetime.combine(day, dt.time(14, 0), tzinfo=dt.UTC)
            items.append(
                IncomingNews(
                    source="Test Wire",
                    headline=f"{template.format(name=asset.name)} ({day:%Y-%m-%d})",
                    published_at=published,
                    symbols=(asset.symbol,),
                    ingested_at=published + dt.timedelta(minutes=5),
                )
            )
    return len(news_items_ingest(items=items, ingested_at=AS_OF))


def market_with_news() -> list[Asset]:
    assets = build_market()
    seed_news(assets)
    return assets


def record_right_history(kind: SignalKind, *, as_of: dt.datetime = AS_OF) -> int:
    """Store a history of ``kind`` signals that were always right (their sign is the sign of the
    return over the next week), so that the kind has earned confidence by ``as_of``."""
    assets = list(Asset.objects.all())
    closes = close_frame(as_of=as_of, asset_ids=[a.pk for a in assets])
    ids = {a.symbol: a.pk for a in assets}
    rows = []
    for t in history_times(closes.index, weeks=26)[:-1]:
        if t + DAILY_HORIZON > closes.index[-1]:
            continue
        later = closes.loc[closes.index <= t + DAILY_HORIZON].iloc[-1]
        change = np.log(later / closes.loc[t])
        for symbol, move in change.items():
            if not np.isfinite(move) or move == 0:
                continue
            rows.append(
                DetectedSignal(
                    asset_id=ids[symbol],
                    kind=kind.value,
                    value=float(np.sign(move)) * 0.01,
                    confidence=1.0,
                    as_of=t.to_pydatetime(),
                    window_start=(t - dt.timedelta(days=30)).to_pydatetime(),
                    window_end=t.to_pydatetime(),
                    run="right-history",
                )
            )
    DetectedSignal.objects.bulk_create(rows)
    return len(rows)
