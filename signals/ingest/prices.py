"""Daily bars from Alpaca's market-data API (alpaca-py ``StockHistoricalDataClient``).

:func:`parsed_prices_from_alpaca_bars` turns alpaca-py ``Bar`` objects into the validated rows that
:func:`portfolios.services.price_bars_import` writes (replacing a stored bar of the same asset and
day, so today's partial bar is refreshed by the next fetch).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from portfolios.core.errors import InvalidInput
from portfolios.core.money import price
from portfolios.core.price_import import BarRow, ParsedPrices

NEW_YORK = ZoneInfo("America/New_York")


@dataclass
class AlpacaBars:
    """Bars converted from Alpaca, and why any were left out."""

    parsed: ParsedPrices
    skipped: list[str] = field(default_factory=list)


def _bars_by_symbol(bars: Any) -> Mapping[str, Iterable[Any]]:
    data = getattr(bars, "data", bars)
    if not isinstance(data, Mapping):
        raise InvalidInput("expected Alpaca bars keyed by symbol (a BarSet)", field="bars")
    return data


def parsed_prices_from_alpaca_bars(bars: Any, *, today: date) -> AlpacaBars:
    """Validated daily rows from an alpaca-py ``BarSet`` (or a mapping of symbol to ``Bar`` list).

    A daily bar's ``timestamp`` is the start of its session; its date is taken in New York. Bars
    dated after ``today``, with a non-finite or non-positive price, a high below the low, or a
    negative volume are left out with a reason; a later bar of the same symbol and day replaces
    an earlier one.
    """
    result = AlpacaBars(parsed=ParsedPrices(layout="alpaca"))
    rows: dict[tuple[str, date], BarRow] = {}
    for symbol, series in sorted(_bars_by_symbol(bars).items()):
        name = str(symbol).strip().upper()
        for bar in series:
            stamp = getattr(bar, "timestamp", None)
            if not isinstance(stamp, datetime) or stamp.utcoffset() is None:
                result.skipped.append(f"{name}: bar without an aware timestamp")
                continue
            day = stamp.astimezone(NEW_YORK).date()
            if day > today:
                result.skipped.append(f"{name} {day}: dated after {today}")
                continue
            numbers = [getattr(bar, f, None) for f in ("open", "high", "low", "close", "volume")]
            if not all(isinstance(n, int | float) and math.isfinite(n) for n in numbers):
                result.skipped.append(f"{name} {day}: a missing or non-finite number")
                continue
            o, h, lo, c, v = (float(n) for n in numbers)  # type: ignore[arg-type]
            if min(o, h, lo, c) <= 0:
                result.skipped.append(f"{name} {day}: a non-positive price")
                continue
            if h < lo or v < 0:
                result.skipped.append(f"{name} {day}: high below low or negative volume")
                continue
            rows[(name, day)] = BarRow(
                symbol=name,
                date=day,
                open=price(o),
                high=price(max(h, o, c)),
                low=price(min(lo, o, c)),
                close=price(c),
                volume=round(v),
            )
    result.parsed.bars = [rows[key] for key in sorted(rows)]
    result.parsed.symbols = {symbol for symbol, _ in rows}
    return result


class AlpacaDailyBars:
    """Daily, split- and dividend-adjusted bars for a list of symbols."""

    def __init__(
        self, *, api_key: str, secret_key: str, data_feed: str = "iex", client: Any = None
    ) -> None:
        if not (api_key and secret_key):
            raise InvalidInput("Alpaca bars need an API key and secret", field="api_key")
        self._api_key = api_key
        self._secret_key = secret_key
        self.data_feed = data_feed
        self._client = client

    @property
    def name(self) -> str:
        return "alpaca-bars"

    def _data_client(self) -> Any:
        if self._client is None:
            from alpaca.data.historical import StockHistoricalDataClient

            self._client = StockHistoricalDataClient(self._api_key, self._secret_key)
        return self._client

    def fetch(self, symbols: Sequence[str], *, start: datetime, now: datetime) -> AlpacaBars:
        """Bars from ``start`` to ``now`` for ``symbols``."""
        if not symbols:
            return AlpacaBars(parsed=ParsedPrices(layout="alpaca"))
        from alpaca.data.enums import Adjustment, DataFeed
        from alpaca.data.requests import StockBarsRequest
        from alpaca.data.timeframe import TimeFrame

        request = StockBarsRequest(
            symbol_or_symbols=list(symbols),
            timeframe=TimeFrame.Day,
            start=start,
            end=now,
            adjustment=Adjustment.ALL,
            feed=DataFeed(self.data_feed),
        )
        bars = self._data_client().get_stock_bars(request)
        return parsed_prices_from_alpaca_bars(bars, today=now.astimezone(NEW_YORK).date())
