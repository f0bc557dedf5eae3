"""Parse and validate daily price files before anything is written.

Two layouts are accepted, recognised from the header:

* wide: ``date`` then one column per symbol holding the close (adjusted close); a blank cell is
  missing data (the asset did not trade yet), never zero;
* long: ``date, symbol, open, high, low, close, volume`` (``volume`` optional).

Every row is checked and every problem is collected with its line number (the header is line 1), so
a user fixes the whole file in one pass. Nothing here touches the database.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from portfolios.core.errors import InvalidInput
from portfolios.core.money import PRICE_QUANT, ROUNDING, to_decimal

LONG_REQUIRED = ("date", "symbol", "close")
LONG_OPTIONAL = ("open", "high", "low", "volume")
MAX_PRICE = Decimal("1e11")


@dataclass(frozen=True)
class BarRow:
    """One validated daily bar."""

    symbol: str
    date: date
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: int


@dataclass(frozen=True)
class RowError:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass
class ParsedPrices:
    layout: str
    bars: list[BarRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    symbols: set[str] = field(default_factory=set)
    missing_cells: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors


def _parse_date(raw: str) -> date:
    text = raw.strip()
    try:
        return date.fromisoformat(text[:10])
    except ValueError as exc:
        raise ValueError(f"date {raw!r} is not an ISO date (YYYY-MM-DD)") from exc


def _parse_price(raw: str, name: str) -> Decimal:
    try:
        value = to_decimal(raw, name=name)
    except InvalidInput as exc:
        raise ValueError(f"{name} {raw!r} is not a number") from exc
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {raw.strip()}")
    if value >= MAX_PRICE:
        raise ValueError(f"{name} {raw.strip()} is implausibly large")
    return value.quantize(PRICE_QUANT, rounding=ROUNDING)


def _parse_volume(raw: str) -> int:
    text = raw.strip()
    if not text:
        return 0
    try:
        value = to_decimal(text, name="volume")
    except InvalidInput as exc:
        raise ValueError(f"volume {raw!r} is not a number") from exc
    if value < 0 or value != value.to_integral_value():
        raise ValueError(f"volume must be a non-negative whole number, got {text}")
    return int(value)


def _normalise_symbol(raw: str) -> str:
    symbol = raw.strip().upper()
    if not symbol or len(symbol) > 16 or not all(c.isalnum() or c in ".-/" for c in symbol):
        raise ValueError(f"symbol {raw!r} is not a valid ticker")
    return symbol


def parse_price_csv(
    text: str | Iterable[str],
    *,
    today: date,
    progress: Callable[[int], None] | None = None,
) -> ParsedPrices:
    """Parse a wide or long price CSV, collecting every bad row.

    Parameters
    ----------
    text
        The file's contents, or an iterable of its lines.
    today
        Dates after ``today`` are rejected (no prices from the future).
    progress
        Called with the number of rows read so far, every 1,000 rows.
    """
    stream = io.StringIO(text) if isinstance(text, str) else text
    reader = csv.reader(stream)
    try:
        header = [column.strip() for column in next(reader)]
    except StopIteration:
        raise InvalidInput("the file is empty: expected a header row", field="file") from None
    lowered = [column.lower() for column in header]
    if not lowered or lowered[0] != "date":
        raise InvalidInput("the first column must be 'date'", field="file")
    if "symbol" in lowered:
        return _parse_long(reader, lowered, today=today, progress=progress)
    return _parse_wide(reader, header, today=today, progress=progress)


def _parse_wide(
    reader: Iterable[list[str]],
    header: list[str],
    *,
    today: date,
    progress: Callable[[int], None] | None,
) -> ParsedPrices:
    result = ParsedPrices(layout="wide")
    symbols: list[str] = []
    for index, raw in enumerate(header[1:], start=2):
        try:
            symbols.append(_normalise_symbol(raw))
        except ValueError as exc:
            result.errors.append(RowError(1, f"column {index}: {exc}"))
            symbols.append("")
    duplicates = {s for s in symbols if s and symbols.count(s) > 1}
    for symbol in sorted(duplicates):
        result.errors.append(RowError(1, f"symbol {symbol} appears in more than one column"))
    if len(symbols) == 0:
        result.errors.append(RowError(1, "no symbol columns after 'date'"))
    result.symbols = {s for s in symbols if s}
    seen_dates: dict[date, int] = {}
    for line, row in enumerate(reader, start=2):
        if progress is not None and line % 1000 == 0:
            progress(line - 1)
        if not row or all(not cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            result.errors.append(
                RowError(line, f"expected {len(header)} columns, found {len(row)}")
            )
            continue
        try:
            day = _parse_date(row[0])
        except ValueError as exc:
            result.errors.append(RowError(line, str(exc)))
            continue
        if day > today:
            result.errors.append(RowError(line, f"date {day} is in the future"))
            continue
        if day in seen_dates:
            result.errors.append(
                RowError(line, f"date {day} already appears on line {seen_dates[day]}")
            )
            continue
        seen_dates[day] = line
        for symbol, cell in zip(symbols, row[1:], strict=True):
            if not cell.strip():
                result.missing_cells += 1
                continue
            if not symbol:
                continue
            try:
                close = _parse_price(cell, f"{symbol} close")
            except ValueError as exc:
                result.errors.append(RowError(line, str(exc)))
                continue
            result.bars.append(BarRow(symbol, day, close, close, close, close, 0))
    return result


def _parse_long(
    reader: Iterable[list[str]],
    lowered: list[str],
    *,
    today: date,
    progress: Callable[[int], None] | None,
) -> ParsedPrices:
    result = ParsedPrices(layout="long")
    missing = [name for name in LONG_REQUIRED if name not in lowered]
    if missing:
        raise InvalidInput(f"missing column(s): {', '.join(missing)}", field="file")
    position = {
        name: lowered.index(name) for name in (*LONG_REQUIRED, *LONG_OPTIONAL) if name in lowered
    }
    seen: dict[tuple[str, date], int] = {}
    for line, row in enumerate(reader, start=2):
        if progress is not None and line % 1000 == 0:
            progress(line - 1)
        if not row or all(not cell.strip() for cell in row):
            continue
        if len(row) != len(lowered):
            result.errors.append(
                RowError(line, f"expected {len(lowered)} columns, found {len(row)}")
            )
            continue
        problems: list[str] = []
        try:
            day = _parse_date(row[position["date"]])
            if day > today:
                problems.append(f"date {day} is in the future")
        except ValueError as exc:
            problems.append(str(exc))
            day = None
        try:
            symbol = _normalise_symbol(row[position["symbol"]])
        except ValueError as exc:
            problems.append(str(exc))
            symbol = ""
        prices: dict[str, Decimal] = {}
        for name in ("open", "high", "low", "close"):
            if name not in position:
                continue
            try:
                prices[name] = _parse_price(row[position[name]], name)
            except ValueError as exc:
                problems.append(str(exc))
        volume = 0
        if "volume" in position:
            try:
                volume = _parse_volume(row[position["volume"]])
            except ValueError as exc:
                problems.append(str(exc))
        if "close" in prices:
            close = prices["close"]
            open_ = prices.get("open", close)
            high = prices.get("high", max(open_, close))
            low = prices.get("low", min(open_, close))
            if low > high:
                problems.append(f"low {low.normalize()} is above high {high.normalize()}")
            elif not (low <= open_ <= high and low <= close <= high):
                problems.append("open and close must lie between low and high")
        if symbol and day is not None:
            key = (symbol, day)
            if key in seen:
                problems.append(f"{symbol} on {day} already appears on line {seen[key]}")
            else:
                seen[key] = line
        if problems:
            result.errors.extend(RowError(line, problem) for problem in problems)
            continue
        assert day is not None
        result.symbols.add(symbol)
        result.bars.append(BarRow(symbol, day, open_, high, low, close, volume))
    return result
