"""Feeds that connect two domains which may not import each other.

The signal pipeline reads order books through ``signals.ingest.books.OrderBookFeed``; the
simulated exchange lives in ``trading``. This layer adapts one to the other.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from portfolios.core.errors import NotFound
from signals.ingest.books import BookSnapshot
from trading.brokers.simulated import DEFAULT_CONFIG, listed_asset
from trading.core.matching import SimulatedExchange
from trading.core.sessions import market_date


class SimulatedExchangeBookFeed:
    """The simulated exchange's book for each symbol, built from the market as of ``now``."""

    venue = "simulated"
    name = "simulated-exchange"

    def snapshots(self, symbols: Sequence[str], *, now: datetime) -> list[BookSnapshot]:
        books = []
        for symbol in symbols:
            try:
                asset = listed_asset(symbol, on=market_date(now))
            except NotFound:
                continue
            book = SimulatedExchange([asset], config=DEFAULT_CONFIG).book(symbol)
            books.append(
                BookSnapshot(
                    symbol=symbol,
                    venue=self.venue,
                    captured_at=now,
                    bids=_by_price(book.bids),
                    asks=_by_price(book.asks),
                    taker_fee_bps=Decimal(0),
                )
            )
        return books


def _by_price(levels: Sequence[Any]) -> tuple[tuple[Decimal, Decimal], ...]:
    """Depth per price, as a market-data feed shows it: the exchange's levels can share a price
    once rounded to the tick (a low-priced asset), and those add up."""
    merged: list[list[Decimal]] = []
    for level in levels:
        if merged and merged[-1][0] == level.price:
            merged[-1][1] += level.quantity
        else:
            merged.append([level.price, level.quantity])
    return tuple((price, quantity) for price, quantity in merged)


def simulated_book_feed() -> SimulatedExchangeBookFeed:
    """For ``SIGNAL_BOOK_FEEDS``: the built-in simulated exchange's books."""
    return SimulatedExchangeBookFeed()
