"""Read-side queries of the signal pipeline. Selectors never write.

Every selector that feeds a computation for time t takes ``as_of`` and returns only what was
available at t: news published *and* ingested at or before t, a daily bar only once its session
has closed (:func:`session_close` at or before t), order-book snapshots captured and stored by t,
signals stamped by t.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from django.db.models import FloatField, Max, QuerySet
from django.db.models.functions import Cast

from portfolios.models import Asset, PriceBar
from signals.core.types import Signal, SignalKind
from signals.models import (
    DetectedSignal,
    NewsItem,
    OrderBookSnapshot,
    SentimentScore,
)

NEW_YORK = ZoneInfo("America/New_York")
SESSION_CLOSE = time(16, 0)


def session_close(day: date) -> datetime:
    """When the daily bar of ``day`` becomes known: 16:00 in New York, as an aware UTC time."""
    return datetime.combine(day, SESSION_CLOSE, tzinfo=NEW_YORK).astimezone(UTC)


def _require_aware(as_of: datetime) -> datetime:
    if not isinstance(as_of, datetime) or as_of.utcoffset() is None:
        from portfolios.core.errors import InvalidInput

        raise InvalidInput(f"as_of must be an aware datetime, got {as_of!r}", field="as_of")
    return as_of


def last_closed_day(as_of: datetime) -> date:
    """The last calendar day whose session has closed by ``as_of`` (its bar is final)."""
    day = _require_aware(as_of).astimezone(NEW_YORK).date()
    return day if session_close(day) <= as_of else day - timedelta(days=1)


def active_assets(*, as_of: datetime) -> list[Asset]:
    """Active assets with at least one daily bar closed by ``as_of``, by symbol."""
    return list(
        Asset.objects.filter(is_active=True, bars__date__lte=last_closed_day(as_of))
        .distinct()
        .order_by("symbol")
    )


def session_closes(days: Iterable[date]) -> pd.DatetimeIndex:
    """:func:`session_close` of each day, vectorised (aware UTC, nanoseconds)."""
    midnight = pd.DatetimeIndex(pd.to_datetime(list(days)))
    return (
        (midnight + pd.Timedelta(hours=SESSION_CLOSE.hour, minutes=SESSION_CLOSE.minute))
        .tz_localize(NEW_YORK)
        .tz_convert(UTC)
        .as_unit("ns")
    )


def close_frame(*, as_of: datetime, asset_ids: Iterable[int]) -> pd.DataFrame:
    """Daily closes known at ``as_of``: a (session close x symbol) float frame, NaN where an asset
    has no bar. The index holds aware UTC times (the sessions' closes), sorted."""
    _require_aware(as_of)
    ids = list(asset_ids)
    symbols = dict(Asset.objects.filter(pk__in=ids).values_list("pk", "symbol"))
    rows = (
        PriceBar.objects.filter(asset_id__in=ids, date__lte=last_closed_day(as_of))
        .annotate(close_value=Cast("close", FloatField()))
        .values_list("date", "asset_id", "close_value")
    )
    table = pd.DataFrame.from_records(list(rows), columns=["date", "asset", "close"])
    if table.empty:
        return pd.DataFrame()
    frame = table.pivot(index="date", columns="asset", values="close").sort_index()
    frame.index = session_closes(frame.index)
    frame.columns = pd.Index([symbols[pk] for pk in frame.columns])
    return frame.sort_index(axis=1).astype("float64")


def visible_news(*, as_of: datetime) -> QuerySet[NewsItem]:
    """News a computation at ``as_of`` may read: published and ingested at or before it."""
    _require_aware(as_of)
    return NewsItem.objects.filter(published_at__lte=as_of, ingested_at__lte=as_of)


def unscored_news(*, backend: str, as_of: datetime) -> QuerySet[NewsItem]:
    """Visible news without a score from ``backend``, oldest first."""
    return visible_news(as_of=as_of).exclude(scores__backend=backend).order_by("published_at", "id")


def daily_sentiment(
    *,
    as_of: datetime,
    backend: str,
    sessions: pd.DatetimeIndex,
    asset_ids: Iterable[int],
) -> dict[str, pd.Series]:
    """Each asset's mean news sentiment per session, from the scores of news visible at ``as_of``.

    A headline counts toward the first session that closes at or after it became visible (the
    later of its publication and its ingestion), so the value at a session's close only uses
    news known by then. Headlines visible after the last of ``sessions`` wait for the next one.

    Returns
    -------
    dict[str, pd.Series]
        Per symbol with news: the mean score indexed by session close (aware UTC), sorted.
    """
    _require_aware(as_of)
    if len(sessions) == 0:
        return {}
    rows = list(
        SentimentScore.objects.filter(
            backend=backend,
            news__published_at__lte=as_of,
            news__ingested_at__lte=as_of,
            news__assets__in=list(asset_ids),
        ).values_list("news__assets__symbol", "news__published_at", "news__ingested_at", "score")
    )
    if not rows:
        return {}
    table = pd.DataFrame(rows, columns=["symbol", "published", "ingested", "score"])
    published = pd.to_datetime(table["published"], utc=True)
    ingested = pd.to_datetime(table["ingested"], utc=True)
    visible = pd.DatetimeIndex(published.where(published >= ingested, ingested)).as_unit("ns")
    stamps = pd.DatetimeIndex(sessions).as_unit("ns")
    bucket = np.searchsorted(stamps.asi8, visible.asi8, side="left")
    table["bucket"] = bucket
    table = table.loc[table["bucket"] < len(stamps)]
    means = table.groupby(["symbol", "bucket"], sort=True)["score"].mean()
    result: dict[str, pd.Series] = {}
    for symbol, series in means.groupby(level=0):
        positions = series.index.get_level_values(1).to_numpy()
        result[str(symbol)] = pd.Series(
            series.to_numpy(dtype="float64"), index=stamps[positions], name="sentiment"
        )
    return result


@dataclass(frozen=True)
class VenueBook:
    """One asset's book snapshots on one venue: the frame the order-flow detectors read
    (columns ``bid_price_1``, ``bid_size_1``, ``ask_price_1``, ``ask_size_1``... by captured time)
    and the venue's taker fee."""

    venue: str
    frame: pd.DataFrame
    taker_fee_bps: float


def order_books(
    *, as_of: datetime, since: datetime, asset_ids: Iterable[int]
) -> dict[str, list[VenueBook]]:
    """Book snapshots captured in ``(since, as_of]`` and stored by ``as_of``, per symbol and venue.

    Each frame has as many levels as every snapshot in it quotes on both sides.
    """
    _require_aware(as_of)
    snapshots = (
        OrderBookSnapshot.objects.filter(
            asset_id__in=list(asset_ids),
            captured_at__gt=since,
            captured_at__lte=as_of,
            ingested_at__lte=as_of,
        )
        .order_by("asset__symbol", "venue", "captured_at", "id")
        .values_list(
            "asset__symbol",
            "venue",
            "captured_at",
            "bid_price",
            "bid_size",
            "ask_price",
            "ask_size",
            "depth",
            "taker_fee_bps",
        )
    )
    grouped: dict[tuple[str, str], list[tuple]] = defaultdict(list)
    for row in snapshots:
        grouped[(row[0], row[1])].append(row)
    books: dict[str, list[VenueBook]] = defaultdict(list)
    for (symbol, venue), rows in grouped.items():
        levels = 1 + min(len(r[7] or []) for r in rows)
        records = []
        for r in rows:
            record = {
                "bid_price_1": float(r[3]),
                "bid_size_1": float(r[4]),
                "ask_price_1": float(r[5]),
                "ask_size_1": float(r[6]),
            }
            for m, level in enumerate((r[7] or [])[: levels - 1], start=2):
                record[f"bid_price_{m}"] = float(level[0])
                record[f"bid_size_{m}"] = float(level[1])
                record[f"ask_price_{m}"] = float(level[2])
                record[f"ask_size_{m}"] = float(level[3])
            records.append(record)
        index = pd.DatetimeIndex([r[2] for r in rows]).tz_convert("UTC").as_unit("ns")
        books[symbol].append(
            VenueBook(
                venue=venue,
                frame=pd.DataFrame.from_records(records, index=index),
                taker_fee_bps=float(rows[-1][8]),
            )
        )
    return dict(books)


def _signal_of(row: Mapping[str, object], symbol: str) -> Signal:
    return Signal(
        asset=symbol,
        kind=SignalKind(str(row["kind"])),
        value=float(row["value"]),  # type: ignore[arg-type]
        confidence=float(row["confidence"]),  # type: ignore[arg-type]
        as_of=row["as_of"],  # type: ignore[arg-type]
        window_start=row["window_start"],  # type: ignore[arg-type]
        window_end=row["window_end"],  # type: ignore[arg-type]
        details=row["details"] or {},  # type: ignore[arg-type]
    )


def signal_history(
    *,
    as_of: datetime,
    since: datetime,
    kinds: Iterable[SignalKind] | None = None,
    at: Iterable[datetime] | None = None,
) -> list[Signal]:
    """Stored signals stamped in ``(since, as_of]`` (and, with ``at``, at one of those times),
    oldest first, as core :class:`Signal` values."""
    _require_aware(as_of)
    rows = DetectedSignal.objects.filter(as_of__gt=since, as_of__lte=as_of)
    if kinds is not None:
        rows = rows.filter(kind__in=[SignalKind(k).value for k in kinds])
    if at is not None:
        rows = rows.filter(as_of__in=list(at))
    values = rows.order_by("as_of", "asset__symbol", "kind").values(
        "asset__symbol",
        "kind",
        "value",
        "confidence",
        "as_of",
        "window_start",
        "window_end",
        "details",
    )
    return [_signal_of(row, str(row["asset__symbol"])) for row in values]


def current_signals(*, as_of: datetime, freshness: Mapping[SignalKind, timedelta]) -> list[Signal]:
    """The latest stored signal of each kind on each asset (each pair, for pair signals) that is
    still fresh at ``as_of``: stamped in ``(as_of - freshness[kind], as_of]``. Kinds not in
    ``freshness`` are left out."""
    _require_aware(as_of)
    if not freshness:
        return []
    oldest = as_of - max(freshness.values())
    latest: dict[tuple[str, str, str], Signal] = {}
    for signal in signal_history(as_of=as_of, since=oldest, kinds=freshness):
        if signal.as_of <= as_of - freshness[signal.kind]:
            continue
        key = (signal.asset, signal.kind.value, str(signal.details.get("pair_asset", "")))
        latest[key] = signal  # oldest first: the last one seen is the latest
    return list(latest.values())


def news_since(*, external_prefix: str) -> datetime | None:
    """The latest publication time among stored news whose external id starts with
    ``external_prefix`` (where an incremental feed picks up)."""
    item = (
        NewsItem.objects.filter(external_id__startswith=external_prefix)
        .order_by("-published_at")
        .values_list("published_at", flat=True)
        .first()
    )
    return item


def last_bar_dates(*, asset_ids: Iterable[int]) -> dict[int, date]:
    """The date of each asset's latest stored bar."""
    return dict(
        PriceBar.objects.filter(asset_id__in=list(asset_ids))
        .values("asset_id")
        .annotate(last=Max("date"))
        .values_list("asset_id", "last")
    )
