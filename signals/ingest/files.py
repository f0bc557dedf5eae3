"""Parse and validate a news file (CSV or JSON Lines) before anything is written.

Each row (a CSV line after the header, or one JSON object per line) needs ``headline``,
``published_at`` (ISO 8601 with a timezone, ``Z`` or an offset) and ``symbols`` (tickers separated
by spaces or commas, or a JSON list); ``summary``, ``url`` and ``source`` are optional. Every
problem is collected with its line number (the CSV header is line 1), so the whole file is fixed in
one pass. Nothing here touches the database.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from portfolios.core.errors import InvalidInput
from signals.ingest.news import plain_text
from signals.ingest.types import IncomingNews

REQUIRED = ("headline", "published_at", "symbols")
OPTIONAL = ("summary", "url", "source")
MAX_HEADLINE = 500
_SYMBOL = re.compile(r"^[A-Z][A-Z0-9.\-/]{0,15}$")
_SPLIT = re.compile(r"[,\s]+")

FileFormat = Literal["csv", "jsonl"]


@dataclass(frozen=True)
class NewsRowError:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass
class ParsedNews:
    """The valid rows of a news file and every problem found, by line."""

    format: FileFormat
    items: list[IncomingNews] = field(default_factory=list)
    errors: list[NewsRowError] = field(default_factory=list)
    rows: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def symbols(self) -> set[str]:
        return {s for item in self.items for s in item.symbols}


def news_file_format(name: str, first_line: str) -> FileFormat:
    """``jsonl`` for ``.jsonl``/``.ndjson`` files or content starting with ``{``, else ``csv``."""
    lowered = name.lower()
    if lowered.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    if lowered.endswith(".csv"):
        return "csv"
    return "jsonl" if first_line.lstrip().startswith("{") else "csv"


def _published(raw: Any, now: datetime) -> datetime:
    if not isinstance(raw, str) or not raw.strip():
        raise ValueError("published_at is missing")
    text = raw.strip()
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise ValueError(
            f"published_at {text!r} is not an ISO 8601 time (e.g. 2024-03-01T14:30:00Z)"
        ) from exc
    if moment.utcoffset() is None:
        raise ValueError(
            f"published_at {text!r} has no timezone; add Z (UTC) or an offset such as -05:00"
        )
    if moment > now:
        raise ValueError(f"published_at {text} is in the future")
    return moment


def _symbols(raw: Any) -> tuple[str, ...]:
    if isinstance(raw, list):
        parts = [str(p) for p in raw]
    elif isinstance(raw, str):
        parts = [p for p in _SPLIT.split(raw.strip()) if p]
    else:
        raise ValueError("symbols must be text (space or comma separated) or a list")
    if not parts:
        raise ValueError("symbols is empty: name at least one ticker")
    symbols: dict[str, None] = {}
    for part in parts:
        symbol = part.strip().upper()
        if not _SYMBOL.match(symbol):
            raise ValueError(f"symbol {part!r} is not a valid ticker")
        symbols.setdefault(symbol, None)
    return tuple(symbols)


def _text(row: dict[str, Any], name: str) -> str:
    value = row.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"{name} must be text")
    return value.strip()


def _row(row: dict[str, Any], *, default_source: str, now: datetime) -> IncomingNews:
    problems = []
    headline = plain_text(_text(row, "headline")) if isinstance(row.get("headline"), str) else ""
    if not headline:
        problems.append("headline is missing")
    elif len(headline) > MAX_HEADLINE:
        problems.append(f"headline is longer than {MAX_HEADLINE} characters")
    published: datetime | None = None
    try:
        published = _published(row.get("published_at"), now)
    except ValueError as exc:
        problems.append(str(exc))
    symbols: tuple[str, ...] = ()
    try:
        symbols = _symbols(row.get("symbols"))
    except ValueError as exc:
        problems.append(str(exc))
    texts: dict[str, str] = {}
    for name in OPTIONAL:
        try:
            texts[name] = _text(row, name)
        except ValueError as exc:
            problems.append(str(exc))
    url = texts.get("url", "")
    if url and not re.match(r"^https?://\S+$", url):
        problems.append(f"url {url!r} is not an http(s) address")
    if len(url) > 500:
        problems.append("url is longer than 500 characters")
    if problems or published is None:
        raise ValueError("; ".join(problems))
    return IncomingNews(
        source=(texts.get("source") or default_source)[:100],
        headline=headline,
        summary=texts.get("summary", ""),
        url=url,
        published_at=published,
        symbols=symbols,
    )


def _csv_rows(lines: Iterable[str]) -> Iterator[tuple[int, dict[str, Any] | str]]:
    reader = csv.reader(lines)
    try:
        header = [column.strip().lower() for column in next(reader)]
    except StopIteration:
        raise InvalidInput("the file is empty: expected a header row", field="file") from None
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise InvalidInput(
            f"the header lacks the column(s) {', '.join(missing)} "
            f"(expected {', '.join(REQUIRED)}, optionally {', '.join(OPTIONAL)})",
            field="file",
        )
    for cells in reader:
        line = reader.line_num
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            yield line, f"expected {len(header)} columns, got {len(cells)}"
            continue
        yield line, dict(zip(header, cells, strict=True))


def _jsonl_rows(lines: Iterable[str]) -> Iterator[tuple[int, dict[str, Any] | str]]:
    for line, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            yield line, f"not valid JSON ({exc.msg})"
            continue
        except RecursionError:
            yield line, "not valid JSON (nested too deeply)"
            continue
        if not isinstance(value, dict):
            yield line, "expected a JSON object"
            continue
        yield line, {str(k).lower(): v for k, v in value.items()}


def parse_news_file(
    lines: Iterable[str], *, format: FileFormat, default_source: str, now: datetime
) -> ParsedNews:
    """Parse every row of a news file, collecting each bad row with its line number.

    Parameters
    ----------
    lines
        The file's lines.
    format
        ``csv`` (with a header) or ``jsonl`` (one JSON object per line).
    default_source
        The source of rows that do not name one.
    now
        Rows published after ``now`` are errors.
    """
    if now.utcoffset() is None:
        raise InvalidInput("now must be timezone-aware", field="now")
    if not default_source.strip():
        raise InvalidInput("a news import needs a source name", field="source")
    parsed = ParsedNews(format=format)
    rows = _csv_rows(lines) if format == "csv" else _jsonl_rows(lines)
    for line, row in rows:
        parsed.rows += 1
        if isinstance(row, str):
            parsed.errors.append(NewsRowError(line, row))
            continue
        try:
            parsed.items.append(_row(row, default_source=default_source.strip(), now=now))
        except ValueError as exc:
            parsed.errors.append(NewsRowError(line, str(exc)))
    if parsed.rows == 0:
        raise InvalidInput("the file has no rows of news", field="file")
    return parsed
