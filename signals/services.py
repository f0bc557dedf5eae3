"""Write-side operations of the signal pipeline."""

from __future__ import annotations

import hashlib
import math
import re
import time
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
from django.db import transaction

from portfolios.core.errors import InvalidInput
from portfolios.models import Asset
from signals.core.types import Signal, SignalKind
from signals.core.views import HitRate, ViewSet
from signals.ingest.books import BookSnapshot
from signals.ingest.files import ParsedNews
from signals.ingest.types import IncomingNews
from signals.models import (
    DetectedSignal,
    DetectorScan,
    HitRateEstimate,
    NewsItem,
    OrderBookSnapshot,
    SentimentScore,
    ViewSnapshot,
)
from signals.selectors import unscored_news
from signals.sentiment.types import SentimentScorer

_SPACE = re.compile(r"\s+")


def news_content_hash(*, headline: str, summary: str = "") -> str:
    """Identity of a news item by content: the same story from two feeds is stored once."""
    text = _SPACE.sub(" ", f"{headline} {summary}".strip().lower())
    return hashlib.sha256(text.encode()).hexdigest()


def news_items_ingest(*, items: Iterable[IncomingNews], ingested_at: datetime) -> list[NewsItem]:
    """Store new items, skipping any whose content is already stored; returns the new ones.

    ``ingested_at`` is when they arrived (now, for a live feed); an item may carry its own.
    """
    batch: dict[str, IncomingNews] = {}
    for item in items:
        if not item.headline.strip():
            raise InvalidInput("a news item needs a headline", field="headline")
        if item.published_at.tzinfo is None:
            raise InvalidInput("published_at must be timezone-aware", field="published_at")
        batch.setdefault(news_content_hash(headline=item.headline, summary=item.summary), item)
    if not batch:
        return []
    with transaction.atomic():
        existing = set(
            NewsItem.objects.filter(content_hash__in=list(batch)).values_list(
                "content_hash", flat=True
            )
        )
        fresh = [(h, item) for h, item in batch.items() if h not in existing]
        symbols = {s for _, item in fresh for s in item.symbols}
        assets = dict(Asset.objects.filter(symbol__in=symbols).values_list("symbol", "pk"))
        created = NewsItem.objects.bulk_create(
            [
                NewsItem(
                    source=item.source[:100],
                    external_id=item.external_id[:200],
                    headline=item.headline.strip()[:500],
                    summary=item.summary,
                    url=item.url[:500],
                    published_at=item.published_at,
                    ingested_at=item.ingested_at or ingested_at,
                    symbols=list(item.symbols),
                    content_hash=h,
                    is_demo=item.is_demo,
                )
                for h, item in fresh
            ],
            ignore_conflicts=True,
        )
        stored = {
            n.content_hash: n
            for n in NewsItem.objects.filter(content_hash__in=[h for h, _ in fresh])
        }
        links = [
            NewsItem.assets.through(newsitem_id=stored[h].pk, asset_id=assets[s])
            for h, item in fresh
            if h in stored
            for s in item.symbols
            if s in assets
        ]
        NewsItem.assets.through.objects.bulk_create(links, ignore_conflicts=True)
    return [stored[n.content_hash] for n in created if n.content_hash in stored]


def symbols_of(items: Sequence[NewsItem]) -> set[str]:
    return {s for item in items for s in item.symbols}


@dataclass(frozen=True)
class NewsImportResult:
    rows: int
    created: int
    duplicates: int
    unknown_symbols: tuple[str, ...]


def news_file_import(*, parsed: ParsedNews, ingested_at: datetime) -> NewsImportResult:
    """Store the rows of a validated news file, all or nothing.

    Refuses (and writes nothing) when any row was bad. Rows whose content is already stored are
    counted as duplicates; symbols outside the universe are kept on the item, unlinked.
    """
    if parsed.errors:
        raise InvalidInput(
            f"{len(parsed.errors)} bad row(s); nothing was imported",
            field="file",
            details=[str(e) for e in parsed.errors],
        )
    with transaction.atomic():
        created = news_items_ingest(items=parsed.items, ingested_at=ingested_at)
    known = set(Asset.objects.filter(symbol__in=parsed.symbols).values_list("symbol", flat=True))
    return NewsImportResult(
        rows=len(parsed.items),
        created=len(created),
        duplicates=len(parsed.items) - len(created),
        unknown_symbols=tuple(sorted(parsed.symbols - known)),
    )


@dataclass(frozen=True)
class ScoringResult:
    backend: str
    scored: int
    remaining: int
    batches: int


def news_sentiment_score(
    *,
    scorer: SentimentScorer,
    as_of: datetime,
    batch_size: int = 256,
    time_budget: float | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ScoringResult:
    """Score the headlines visible at ``as_of`` that ``scorer``'s backend has not scored yet.

    Each batch is committed on its own, so an interrupted run keeps what it finished and the next
    one starts where it stopped; a score that appears meanwhile (a concurrent run) is kept, not
    duplicated. With ``time_budget`` (seconds) it stops after the batch that exceeds it and
    reports what is left. ``progress`` is called with (scored so far, total).
    """
    if batch_size < 1:
        raise InvalidInput("batch_size must be at least 1", field="batch_size")
    backend = scorer.name
    pending = list(unscored_news(backend=backend, as_of=as_of).values_list("pk", "headline"))
    started = time.monotonic()
    scored = batches = 0
    for first in range(0, len(pending), batch_size):
        batch = pending[first : first + batch_size]
        scores = scorer.score_batch([headline for _, headline in batch])
        if len(scores) != len(batch):
            raise InvalidInput(
                f"sentiment backend {backend} returned {len(scores)} scores for {len(batch)} texts",
                field="backend",
            )
        with transaction.atomic():
            SentimentScore.objects.bulk_create(
                [
                    SentimentScore(
                        news_id=pk,
                        backend=backend,
                        label=score.label,
                        score=max(-1.0, min(1.0, score.score)),
                        p_negative=score.probabilities[0],
                        p_neutral=score.probabilities[1],
                        p_positive=score.probabilities[2],
                        scored_at=as_of,
                    )
                    for (pk, _), score in zip(batch, scores, strict=True)
                ],
                ignore_conflicts=True,
            )
        scored += len(batch)
        batches += 1
        if progress is not None:
            progress(scored, len(pending))
        if time_budget is not None and time.monotonic() - started > time_budget:
            break
    return ScoringResult(
        backend=backend, scored=scored, remaining=len(pending) - scored, batches=batches
    )


@dataclass(frozen=True)
class BooksStored:
    received: int
    created: int
    unknown_symbols: tuple[str, ...]


def _level_text(level: tuple[Decimal, Decimal]) -> list[str]:
    return [str(level[0]), str(level[1])]


def order_book_snapshots_store(
    *, snapshots: Iterable[BookSnapshot], ingested_at: datetime, source: str = ""
) -> BooksStored:
    """Store book snapshots of known assets; one already stored (same asset, venue and time) is
    kept as it was. Snapshots captured after ``ingested_at`` are refused: the venue's clock and
    ours disagree, and the book would be visible before it existed."""
    books = list(snapshots)
    late = [b for b in books if b.captured_at > ingested_at]
    if late:
        raise InvalidInput(
            f"{late[0].symbol} on {late[0].venue}: captured {late[0].captured_at.isoformat()}, "
            f"after it was received ({ingested_at.isoformat()})",
            field="captured_at",
        )
    assets = dict(
        Asset.objects.filter(symbol__in={b.symbol for b in books}).values_list("symbol", "pk")
    )
    known = [b for b in books if b.symbol in assets]
    rows = {
        (assets[b.symbol], b.venue, b.captured_at): OrderBookSnapshot(
            asset_id=assets[b.symbol],
            venue=b.venue[:32],
            captured_at=b.captured_at,
            ingested_at=ingested_at,
            bid_price=b.bids[0][0],
            bid_size=b.bids[0][1],
            ask_price=b.asks[0][0],
            ask_size=b.asks[0][1],
            depth=[
                _level_text(bid) + _level_text(ask)
                for bid, ask in zip(b.bids[1:], b.asks[1:], strict=False)
            ],
            taker_fee_bps=b.taker_fee_bps,
            source=source[:32],
        )
        for b in known
    }
    with transaction.atomic():
        existing = {
            (a, v, c)
            for a, v, c in OrderBookSnapshot.objects.filter(
                asset_id__in={k[0] for k in rows},
                captured_at__in={k[2] for k in rows},
            ).values_list("asset_id", "venue", "captured_at")
        }
        OrderBookSnapshot.objects.bulk_create(
            [row for key, row in rows.items() if key not in existing], ignore_conflicts=True
        )
    return BooksStored(
        received=len(books),
        created=len([k for k in rows if k not in existing]),
        unknown_symbols=tuple(sorted({b.symbol for b in books} - set(assets))),
    )


def order_book_snapshots_prune(*, before: datetime) -> int:
    """Delete book snapshots captured before ``before``; returns how many."""
    deleted, _ = OrderBookSnapshot.objects.filter(captured_at__lt=before).delete()
    return deleted


def _json_ready(value: Any) -> Any:
    """Detector details as JSON: tuples become lists, numpy numbers plain ones, and a NaN or an
    infinity becomes null (JSON has neither)."""
    if isinstance(value, Mapping):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating | Decimal):
        number = float(value)
        return number if math.isfinite(number) else None
    return str(value)


_SIGNAL_FIELDS = ["value", "confidence", "window_start", "window_end", "details", "run"]


def detected_signals_store(
    *, signals: Iterable[Signal], run: str, replace_at: Container[datetime] = ()
) -> int:
    """Store detector outputs, one row per asset, kind and time.

    A signal stamped at a time in ``replace_at`` replaces a stored one of the same asset, kind and
    time (the current signals of a run that is redone); any other keeps what is stored (history,
    which never changes). Signals on symbols outside the universe are skipped. Returns how many
    rows were added or replaced.
    """
    signals = list(signals)
    assets = dict(
        Asset.objects.filter(symbol__in={s.asset for s in signals}).values_list("symbol", "pk")
    )
    replace: list[DetectedSignal] = []
    keep: list[DetectedSignal] = []
    for signal in signals:
        if signal.asset not in assets:
            continue
        row = DetectedSignal(
            asset_id=assets[signal.asset],
            kind=signal.kind.value,
            value=signal.value,
            confidence=signal.confidence,
            as_of=signal.as_of,
            window_start=signal.window_start,
            window_end=signal.window_end,
            details=_json_ready(dict(signal.details)),
            run=run[:64],
        )
        (replace if signal.as_of in replace_at else keep).append(row)
    with transaction.atomic():
        if keep:
            stored = set(
                DetectedSignal.objects.filter(
                    as_of__in={r.as_of for r in keep}, kind__in={r.kind for r in keep}
                ).values_list("asset_id", "kind", "as_of")
            )
            keep = [r for r in keep if (r.asset_id, r.kind, r.as_of) not in stored]
            DetectedSignal.objects.bulk_create(keep, ignore_conflicts=True, batch_size=2000)
        if replace:
            DetectedSignal.objects.bulk_create(
                replace,
                update_conflicts=True,
                unique_fields=["asset", "kind", "as_of"],
                update_fields=_SIGNAL_FIELDS,
                batch_size=2000,
            )
    return len(keep) + len(replace)


def detector_scans_record(*, scans: Iterable[tuple[SignalKind, datetime]], run: str) -> int:
    """Record that each detector kind has been run over the universe at each time."""
    rows = [DetectorScan(kind=kind.value, as_of=at, run=run[:64]) for kind, at in set(scans)]
    DetectorScan.objects.bulk_create(rows, ignore_conflicts=True, batch_size=2000)
    return len(rows)


def hit_rates_store(
    *,
    rates: Mapping[SignalKind, HitRate],
    as_of: datetime,
    horizons: Mapping[SignalKind, timedelta],
) -> int:
    """Store (or replace) each kind's hit rate measured at ``as_of``."""
    rows = [
        HitRateEstimate(
            as_of=as_of,
            kind=kind.value,
            hits=rate.hits,
            trials=rate.trials,
            prior_strength=rate.prior_strength,
            shrunk=rate.shrunk,
            view_confidence=rate.view_confidence,
            horizon=horizons[kind],
        )
        for kind, rate in rates.items()
    ]
    HitRateEstimate.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["as_of", "kind"],
        update_fields=["hits", "trials", "prior_strength", "shrunk", "view_confidence", "horizon"],
    )
    return len(rows)


def view_payload(view_set: ViewSet) -> list[dict[str, Any]]:
    """The views in the shape recommendations read: ``p`` aligned with the universe, ``tilt``
    (annualised, signed), ``confidence``, ``explanation`` and ``kinds``; plus the view's form, its
    ``q`` and the signals behind it."""
    payload = []
    for k, view in enumerate(view_set.views):
        payload.append(
            {
                "p": [float(w) for w in view_set.P[k]],
                "tilt": float(view_set.tilts[k]),
                "confidence": float(view_set.confidences[k]),
                "explanation": view.explanation,
                "kinds": sorted({c.kind.value for c in view.contributions}),
                "form": view.form,
                "assets": list(view.assets),
                "weights": [float(w) for w in view.weights],
                "q": float(view_set.Q[k]),
                "signals": [
                    {
                        "asset": c.asset,
                        "kind": c.kind.value,
                        "value": _json_ready(c.value),
                        "direction": c.direction,
                        "confidence": _json_ready(c.signal_confidence),
                        "hit_rate": _json_ready(c.hit_rate),
                        "weight": _json_ready(c.weight),
                        "as_of": c.as_of.isoformat(),
                    }
                    for c in view.contributions
                ],
            }
        )
    return payload


def view_snapshot_store(*, view_set: ViewSet) -> ViewSnapshot:
    """Store (or replace) the views built at ``view_set.as_of``."""
    snapshot, _ = ViewSnapshot.objects.update_or_create(
        as_of=view_set.as_of,
        defaults={"symbols": list(view_set.universe), "views": view_payload(view_set)},
    )
    return snapshot
