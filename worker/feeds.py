"""Feeds that connect two domains which may not import each other.

The signal pipeline reads order books through ``signals.ingest.books.OrderBookFeed``; the
simulated exchange lives in ``trading``. This layer adapts one to the other.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from portfolios.core.errors import NotFound
from signals.ingest.books import BookSnapshot
from trading.brokers.simulated import DEFAULT_CONFIG, listed_asset
from trading.core.matching import SimulatedExchange


class SimulatedExchangeBookFeed:
    """The simulated exchange's book for each symbol, built from the market as of ``now``."""

    venue = "simulated"

    def snapshots(self, symbols: Sequence[str], *, now: datetime) -> list[BookSnapshot]:
        books = []
        for symbol in symbols:
            try:
                asset = listed_asset(symbol, on=now.date())
            except NotFound:
                continue
            book = SimulatedExchange([asset], config=DEFAULT_CONFIG).book(symbol)
            books.append(
                BookSnapshot(
                    symbol=symbol,
                    venue=self.venue,
                    captured_at=now,
                    bids=tuple((level.price, level.quantity) for level in book.bids),
                    asks=tuple((level.price, level.quantity) for level in book.asks),
                    taker_fee_bps=Decimal(0),
                )
            )
        return books


def simulated_book_feed() -> SimulatedExchangeBookFeed:
    """For ``SIGNAL_BOOK_FEEDS``: the built-in simulated exchange's books."""
    return SimulatedExchangeBookFeed()
