"""Order-book snapshots: the feed interface, and Alpaca's latest quotes as a level-1 book.

A feed returns :class:`BookSnapshot` values; :func:`signals.services.order_book_snapshots_store`
stores them. The simulated exchange implements :class:`OrderBookFeed` in the trading package and
is wired in by the layer above (signals and trading never import each other), through the
``SIGNAL_BOOK_FEEDS`` setting.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from itertools import pairwise
from typing import Any, Protocol, runtime_checkable

from portfolios.core.errors import InvalidInput
from portfolios.core.money import price, quantity, to_decimal

Level = tuple[Decimal, Decimal]
"""One price level: ``(price, size)``."""


def _level(raw: Sequence[Any], *, side: str, depth: int, symbol: str) -> Level:
    if len(raw) != 2:
        raise InvalidInput(
            f"{symbol}: {side} level {depth} must be (price, size), got {raw!r}", field=side
        )
    level_price = price(raw[0], name=f"{side} price")
    level_size = quantity(raw[1], name=f"{side} size")
    if level_price <= 0:
        raise InvalidInput(
            f"{symbol}: {side} price at level {depth} must be positive, got {raw[0]!r}", field=side
        )
    if level_size < 0:
        raise InvalidInput(
            f"{symbol}: {side} size at level {depth} cannot be negative, got {raw[1]!r}",
            field=side,
        )
    return level_price, level_size


@dataclass(frozen=True)
class BookSnapshot:
    """One venue's book for one symbol at one moment, best level first on each side.

    Attributes
    ----------
    symbol : str
    venue : str
        Where it was quoted (``"alpaca-iex"``, ``"simulated"``...); quotes from two venues of the
        same symbol make a cross-venue comparison.
    captured_at : datetime
        The venue's timestamp of the book (aware).
    bids, asks : tuple of (price, size)
        Prices strictly worse level by level (bids falling, asks rising); sizes may be zero.
    taker_fee_bps : Decimal
        The venue's taker fee in basis points of the traded value.
    """

    symbol: str
    venue: str
    captured_at: datetime
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]
    taker_fee_bps: Decimal = Decimal(0)

    def __post_init__(self) -> None:
        symbol = (self.symbol or "").strip().upper()
        if not symbol:
            raise InvalidInput("a book snapshot needs a symbol", field="symbol")
        object.__setattr__(self, "symbol", symbol)
        if not (self.venue or "").strip():
            raise InvalidInput(f"{symbol}: a book snapshot needs a venue", field="venue")
        if not isinstance(self.captured_at, datetime) or self.captured_at.utcoffset() is None:
            raise InvalidInput(
                f"{symbol}: captured_at must be an aware datetime", field="captured_at"
            )
        bids = tuple(
            _level(level, side="bid", depth=n, symbol=symbol)
            for n, level in enumerate(self.bids, 1)
        )
        asks = tuple(
            _level(level, side="ask", depth=n, symbol=symbol)
            for n, level in enumerate(self.asks, 1)
        )
        if not bids or not asks:
            raise InvalidInput(f"{symbol}: a book needs at least one bid and one ask", field="bids")
        if any(b[0] <= c[0] for b, c in pairwise(bids)):
            raise InvalidInput(f"{symbol}: bid prices must fall level by level", field="bids")
        if any(a[0] >= c[0] for a, c in pairwise(asks)):
            raise InvalidInput(f"{symbol}: ask prices must rise level by level", field="asks")
        if bids[0][0] > asks[0][0]:
            raise InvalidInput(
                f"{symbol} on {self.venue}: the book is crossed (bid {bids[0][0]} above ask "
                f"{asks[0][0]})",
                field="bids",
            )
        fee = to_decimal(self.taker_fee_bps, name="taker_fee_bps")
        if not (0 <= fee < 10_000):
            raise InvalidInput(
                f"{symbol}: taker fee must be in [0, 10000) basis points, got {fee}",
                field="taker_fee_bps",
            )
        object.__setattr__(self, "bids", bids)
        object.__setattr__(self, "asks", asks)
        object.__setattr__(self, "taker_fee_bps", fee)
        object.__setattr__(self, "captured_at", self.captured_at.astimezone(UTC))

    @property
    def levels(self) -> int:
        """Levels quoted on both sides."""
        return min(len(self.bids), len(self.asks))


@runtime_checkable
class OrderBookFeed(Protocol):
    """A source of order-book snapshots."""

    @property
    def name(self) -> str:
        """The feed's name, stored with each snapshot (``source``)."""
        ...

    def snapshots(self, symbols: Sequence[str], *, now: datetime) -> list[BookSnapshot]:
        """The current book of each of ``symbols`` that the feed quotes, none stamped after
        ``now``."""
        ...


def book_snapshots_from_alpaca_quotes(
    quotes: Mapping[str, Any], *, venue: str, now: datetime
) -> tuple[list[BookSnapshot], list[str]]:
    """Level-1 books from alpaca-py ``Quote`` objects keyed by symbol (what
    ``StockHistoricalDataClient.get_stock_latest_quote`` returns).

    Returns the snapshots and, for each quote left out, why: one-sided or empty (a zero price,
    as Alpaca sends outside trading hours), crossed, stamped after ``now``, or not a number.
    """
    books: list[BookSnapshot] = []
    skipped: list[str] = []
    for symbol, quote in sorted(quotes.items()):
        stamp = getattr(quote, "timestamp", None)
        if not isinstance(stamp, datetime) or stamp.utcoffset() is None:
            skipped.append(f"{symbol}: quote without an aware timestamp")
            continue
        if stamp > now:
            skipped.append(f"{symbol}: quote stamped {stamp.isoformat()}, after {now.isoformat()}")
            continue
        numbers = [
            getattr(quote, name, None)
            for name in ("bid_price", "bid_size", "ask_price", "ask_size")
        ]
        if not all(isinstance(n, int | float) and math.isfinite(n) for n in numbers):
            skipped.append(f"{symbol}: quote with a missing or non-finite number")
            continue
        bid_price, bid_size, ask_price, ask_size = (float(n) for n in numbers)  # type: ignore[arg-type]
        if bid_price <= 0 or ask_price <= 0:
            skipped.append(f"{symbol}: one-sided quote (bid {bid_price}, ask {ask_price})")
            continue
        try:
            books.append(
                BookSnapshot(
                    symbol=symbol,
                    venue=venue,
                    captured_at=stamp,
                    bids=((price(bid_price), quantity(bid_size)),),
                    asks=((price(ask_price), quantity(ask_size)),),
                )
            )
        except InvalidInput as exc:
            skipped.append(exc.message)
    return books, skipped


class AlpacaQuoteFeed:
    """Alpaca's latest quote per symbol as a one-level book (venue ``alpaca-<feed>``)."""

    def __init__(
        self, *, api_key: str, secret_key: str, data_feed: str = "iex", client: Any = None
    ) -> None:
        if not (api_key and secret_key):
            raise InvalidInput("the Alpaca quote feed needs an API key and secret", field="api_key")
        self._api_key = api_key
        self._secret_key = secret_key
        self.data_feed = data_feed
        self._client = client
        self.skipped: list[str] = []

    @property
    def name(self) -> str:
        return "alpaca-quotes"

    @property
    def venue(self) -> str:
        return f"alpaca-{self.data_feed}"

    def _data_client(self) -> Any:
        if self._client is None:
            from alpaca.data.historical import StockHistoricalDataClient

            self._client = StockHistoricalDataClient(self._api_key, self._secret_key)
        return self._client

    def snapshots(self, symbols: Sequence[str], *, now: datetime) -> list[BookSnapshot]:
        if not symbols:
            return []
        from alpaca.data.enums import DataFeed
        from alpaca.data.requests import StockLatestQuoteRequest

        request = StockLatestQuoteRequest(
            symbol_or_symbols=list(symbols), feed=DataFeed(self.data_feed)
        )
        quotes = self._data_client().get_stock_latest_quote(request)
        books, self.skipped = book_snapshots_from_alpaca_quotes(quotes, venue=self.venue, now=now)
        return books
