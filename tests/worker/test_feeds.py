"""The simulated exchange's books as the signal pipeline reads them."""

import datetime as dt
from decimal import Decimal

import pytest

from signals.ingest.books import OrderBookFeed
from tests.factories import AssetFactory, PriceBarFactory
from worker.feeds import simulated_book_feed

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("close", [Decimal("1.37"), Decimal("0.52"), Decimal("100")])
def test_books_are_valid_at_any_price_with_one_level_per_price(close):
    asset = AssetFactory(symbol="LOWP")
    for day in range(30):
        PriceBarFactory(
            asset=asset,
            date=dt.date(2025, 5, 1) + dt.timedelta(days=day),
            open=close,
            high=close,
            low=close,
            close=close,
            volume=2_000_000,
        )
    feed = simulated_book_feed()
    assert isinstance(feed, OrderBookFeed) and feed.name == "simulated-exchange"
    now = dt.datetime(2025, 6, 1, 15, tzinfo=dt.UTC)
    (book,) = feed.snapshots(["LOWP", "NOT-LISTED"], now=now)  # validated on construction
    bids = [price for price, _ in book.bids]
    asks = [price for price, _ in book.asks]
    assert bids == sorted(set(bids), reverse=True) and asks == sorted(set(asks))
    assert bids[0] < close < asks[0]
