"""The signal pipeline's stages as plain services: ingest, score, detect, build views.

Each stage is ``stage_<name>(*, run, now) -> StageResult``: ``run`` labels what it writes (the
pipeline run it belongs to) and ``now`` is the moment the run computes for. Every stage is safe to
run twice or to redo after a crash: news is deduplicated by content, scores are unique per item and
backend, signals per asset, kind and time, views per time.

No look-ahead. Daily bars count from their session's close (16:00 New York), news from the later
of its publication and its ingestion, book snapshots from their capture and storage. Daily
detectors are stamped at session closes: the current signal of a run is the one at the last close,
and the history the hit rates are measured on is stamped at earlier closes (every Friday of the past
half-year) using only what was known at each. A detector kind's history at a close, once computed,
is never recomputed (:class:`~signals.models.DetectorScan` records it). Signals become bounded
Black-Litterman views; nothing here places an order.

The first run on a universe also fills half a year of weekly history, so it is the slowest; later
runs recompute the current signals only. Each stage's timing is in the admin and in
``python manage.py run_pipeline``'s report.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from portfolios.core.errors import DomainError, InvalidInput
from portfolios.models import Asset, FirmSettings, PriceBar
from signals.core.crossvenue import cross_venue_signal
from signals.core.divergence import sentiment_divergence
from signals.core.indicators import bollinger_bands, macd, rsi
from signals.core.meanreversion import (
    UNIT_ROOT_CRITICAL_VALUE_5PCT,
    mean_reversion,
    slope_reverts,
)
from signals.core.orderflow import (
    depth_imbalance_signal,
    microprice_signal,
    order_flow_imbalance_signal,
)
from signals.core.pairs import MIN_OBSERVATIONS, pairs_signal
from signals.core.regime import volatility_regime
from signals.core.timeseries import to_datetime
from signals.core.types import Signal, SignalKind, VolatilityRegime
from signals.core.views import build_views, hit_rate
from signals.ingest.books import AlpacaQuoteFeed, OrderBookFeed
from signals.ingest.news import AlpacaNewsFeed, NewsFeed, RssFeed
from signals.ingest.prices import AlpacaDailyBars
from signals.models import DetectorScan
from signals.selectors import (
    VenueBook,
    active_assets,
    close_frame,
    current_signals,
    daily_sentiment,
    last_bar_dates,
    news_since,
    order_books,
    signal_history,
)
from signals.sentiment.registry import scorer_for
from signals.sentiment.types import SentimentScorer
from signals.services import (
    detected_signals_store,
    detector_scans_record,
    hit_rates_store,
    news_items_ingest,
    news_sentiment_score,
    order_book_snapshots_prune,
    order_book_snapshots_store,
    view_snapshot_store,
)

logger = logging.getLogger("signals.pipeline")

# -- parameters -------------------------------------------------------------------------------

#: How far ahead a daily signal forecasts, how long it stays current, and the window its hit rate
#: is checked over (about five sessions).
DAILY_HORIZON = timedelta(days=7)
#: The same for signals read from order books.
BOOK_HORIZON = timedelta(days=1)
#: Weeks of Friday closes at which daily detectors keep a history (for their hit rates): about
#: 1,100 outcomes per kind on a universe of 44 assets.
HISTORY_WEEKS = 26
#: Weeks of history for pairs, whose cointegration test costs the most.
PAIR_HISTORY_WEEKS = 8
#: Pairs tested at each time: the most correlated within a replacement group or a sector.
MAX_PAIRS = 8
#: Sessions of daily returns behind the correlation that ranks candidate pairs.
PAIR_RANKING_SESSIONS = 250
#: A daily signal is not computed for an asset whose last bar is older than this at the time.
STALE_AFTER = timedelta(days=7)
#: Book snapshots read by the order-flow detectors: those captured in the trailing window.
BOOK_WINDOW = timedelta(minutes=30)
#: Quotes older than this are left out of cross-venue comparisons.
QUOTE_MAX_AGE = timedelta(minutes=5)
#: Units in a cross-venue round trip, and the fixed cost of moving them between venues.
CROSS_VENUE_QUANTITY = 100.0
CROSS_VENUE_TRANSFER_COST = 0.0
#: Weeks of Friday closes whose daily signals count toward hit rates (weekly samples: their
#: week-long outcomes do not overlap, and the sample stays small however often the pipeline runs).
HIT_RATE_WEEKS = 104
#: How far back order-book signals count toward hit rates.
BOOK_HIT_RATE_LOOKBACK = timedelta(days=60)
#: Headlines per scoring batch, and the seconds a scoring stage may spend before it stops and
#: leaves the rest to the next run (within the task time limit).
SCORE_BATCH = 256
SCORE_TIME_BUDGET = 240.0
#: Book snapshots kept before the ingest stage deletes them.
BOOK_RETENTION = timedelta(days=7)
#: A run whose ``now`` is further than this behind the clock is for a past time: live feeds are
#: not read (what they return now was not available then).
LIVE_TOLERANCE = timedelta(minutes=15)
#: Where an incremental news feed starts when nothing of it is stored yet.
NEWS_BACKFILL = timedelta(days=3)
#: Daily bars fetched for an asset that has none yet.
PRICE_BACKFILL = timedelta(days=6 * 365)

DAILY_KINDS: tuple[SignalKind, ...] = (
    SignalKind.SENTIMENT_DIVERGENCE,
    SignalKind.MEAN_REVERSION,
    SignalKind.RSI,
    SignalKind.MACD,
    SignalKind.BOLLINGER,
    SignalKind.VOLATILITY_REGIME,
)
BOOK_KINDS: tuple[SignalKind, ...] = (
    SignalKind.DEPTH_IMBALANCE,
    SignalKind.MICROPRICE,
    SignalKind.ORDER_FLOW_IMBALANCE,
)
#: Each kind's forecast horizon (the hit-rate window and how long it stays current).
HORIZONS: Mapping[SignalKind, timedelta] = {
    **{kind: DAILY_HORIZON for kind in (*DAILY_KINDS, SignalKind.PAIR_SPREAD)},
    **{kind: BOOK_HORIZON for kind in (*BOOK_KINDS, SignalKind.CROSS_VENUE_GAP)},
}

RSI_PERIOD = 14
MACD_SPANS = (12, 26, 9)
BOLLINGER_PERIOD, BOLLINGER_WIDTH = 20, 2.0
MEAN_REVERSION_WINDOW = 120
REGIME_WINDOW, REGIME_LOOKBACK = 20, 252
DIVERGENCE_RETURN_WINDOW, DIVERGENCE_WINDOW = 5, 60


@dataclass(frozen=True)
class StageResult:
    """What a stage did: counts by name (shown in the admin), and notes for people."""

    counts: Mapping[str, int]
    notes: tuple[str, ...] = ()


# -- configuration ----------------------------------------------------------------------------


def sentiment_backend() -> str:
    """The configured sentiment backend (``SENTIMENT_BACKEND``; ``embedded`` by default)."""
    return (getattr(settings, "SENTIMENT_BACKEND", "") or "embedded").strip().lower()


@lru_cache(maxsize=2)
def _scorer(backend: str, model_dir: str) -> SentimentScorer:
    return scorer_for(backend, model_dir=model_dir or None)


def configured_scorer() -> SentimentScorer:
    """The configured scorer, built once per process (a model loads on its first batch)."""
    return _scorer(
        sentiment_backend(), (getattr(settings, "SENTIMENT_MODEL_DIR", "") or "").strip()
    )


def _alpaca_keys() -> tuple[str, str] | None:
    key = getattr(settings, "ALPACA_API_KEY", "") or ""
    secret = getattr(settings, "ALPACA_SECRET_KEY", "") or ""
    return (key, secret) if key and secret else None


def _data_feed() -> str:
    return (getattr(settings, "ALPACA_DATA_FEED", "") or "iex").strip().lower()


def _setting_entries(name: str) -> list[str]:
    value = getattr(settings, name, None) or []
    if isinstance(value, str):
        value = value.replace("\n", ";").split(";")
    return [str(entry).strip() for entry in value if str(entry).strip()]


def configured_news_feeds(*, symbols: Sequence[str]) -> list[NewsFeed]:
    """Alpaca news when Alpaca keys are set, and every ``SIGNAL_RSS_FEEDS`` entry
    (``URL`` or ``URL SYM1,SYM2``)."""
    feeds: list[NewsFeed] = []
    keys = _alpaca_keys()
    if keys and symbols:
        feeds.append(AlpacaNewsFeed(api_key=keys[0], secret_key=keys[1], symbols=symbols))
    known = frozenset(symbols)
    feeds.extend(RssFeed.from_setting(e, known=known) for e in _setting_entries("SIGNAL_RSS_FEEDS"))
    return feeds


def configured_book_feeds() -> list[OrderBookFeed]:
    """Alpaca's latest quotes when Alpaca keys are set, and the feed each ``SIGNAL_BOOK_FEEDS``
    entry (a dotted path to a callable without arguments) builds, such as the simulated
    exchange's."""
    from django.utils.module_loading import import_string

    feeds: list[OrderBookFeed] = []
    keys = _alpaca_keys()
    if keys:
        feeds.append(AlpacaQuoteFeed(api_key=keys[0], secret_key=keys[1], data_feed=_data_feed()))
    for path in _setting_entries("SIGNAL_BOOK_FEEDS"):
        feeds.append(import_string(path)())
    return feeds


def configured_bar_source() -> AlpacaDailyBars | None:
    """Alpaca's daily bars when Alpaca keys are set."""
    keys = _alpaca_keys()
    if keys is None:
        return None
    return AlpacaDailyBars(api_key=keys[0], secret_key=keys[1], data_feed=_data_feed())


# -- ingest -----------------------------------------------------------------------------------


@dataclass
class _Tally:
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    notes: list[str] = field(default_factory=list)

    def failed(self, what: str, exc: Exception) -> None:
        self.counts["feeds_failed"] += 1
        message = exc.message if isinstance(exc, DomainError) else f"{type(exc).__name__}: {exc}"
        self.notes.append(f"{what} failed: {message}"[:500])
        logger.warning("%s failed", what, exc_info=exc)

    def result(self) -> StageResult:
        return StageResult(counts=dict(self.counts), notes=tuple(self.notes))


def stage_ingest(
    *,
    run: str,
    now: datetime,
    news_feeds: Sequence[NewsFeed] | None = None,
    book_feeds: Sequence[OrderBookFeed] | None = None,
    bar_source: AlpacaDailyBars | None = None,
    clock: Callable[[], datetime] = timezone.now,
) -> StageResult:
    """Read the live feeds into the database: daily bars, news and order books.

    Feeds default to the configured ones (:func:`configured_news_feeds` and friends). Everything
    is stamped as ingested at ``now``. A run for a past time (``now`` more than
    :data:`LIVE_TOLERANCE` behind ``clock()``) reads no feed, since nothing they return now was
    available then. A failing feed is recorded in the notes and the others still run.
    """
    tally = _Tally()
    for name in ("bars", "news", "books"):
        tally.counts[name] = 0
    lag = clock() - now
    if lag > LIVE_TOLERANCE:
        tally.notes.append(f"feeds not read: the run is for {now.isoformat()}, {lag} before now")
        return tally.result()
    # every active asset, including one without prices yet (its history is fetched)
    assets = list(Asset.objects.filter(is_active=True).order_by("symbol"))
    live = [a for a in assets if not a.is_demo]  # simulated instruments exist in no real feed
    live_symbols = [a.symbol for a in live]

    source = bar_source if bar_source is not None else configured_bar_source()
    if source is not None and live:
        try:
            tally.counts["bars"] += _ingest_bars(source, assets=live, now=now, tally=tally)
        except Exception as exc:  # one feed failing must not stop the others
            tally.failed(source.name, exc)

    feeds = news_feeds if news_feeds is not None else configured_news_feeds(symbols=live_symbols)
    for feed in feeds:
        try:
            since = None
            if isinstance(feed, AlpacaNewsFeed):
                since = news_since(external_prefix="alpaca:") or now - NEWS_BACKFILL
            stored = news_items_ingest(items=feed.items(since=since, now=now), ingested_at=now)
            tally.counts["news"] += len(stored)
        except Exception as exc:  # one feed failing must not stop the others
            tally.failed(feed.name, exc)

    symbols = [a.symbol for a in assets]
    for book_feed in book_feeds if book_feeds is not None else configured_book_feeds():
        try:
            result = order_book_snapshots_store(
                snapshots=book_feed.snapshots(symbols, now=now),
                ingested_at=now,
                source=book_feed.name,
            )
            tally.counts["books"] += result.created
        except Exception as exc:  # one feed failing must not stop the others
            tally.failed(book_feed.name, exc)
    tally.counts["books_pruned"] = order_book_snapshots_prune(before=now - BOOK_RETENTION)
    return tally.result()


def _ingest_bars(
    source: AlpacaDailyBars, *, assets: Sequence[Asset], now: datetime, tally: _Tally
) -> int:
    """Fetch bars from the last stored day of each asset (refreshing a partial one) to now."""
    from portfolios.services import price_bars_import

    last = last_bar_dates(asset_ids=[a.pk for a in assets])
    starts = [
        datetime.combine(last[a.pk], datetime.min.time(), tzinfo=now.tzinfo)
        if a.pk in last
        else now - PRICE_BACKFILL
        for a in assets
    ]
    fetched = source.fetch([a.symbol for a in assets], start=min(starts), now=now)
    if fetched.skipped:
        tally.notes.append(f"{len(fetched.skipped)} Alpaca bar(s) left out: {fetched.skipped[0]}")
    if not fetched.parsed.bars:
        return 0
    result = price_bars_import(parsed=fetched.parsed, source=PriceBar.Source.ALPACA)
    return result.bars_written


# -- score ------------------------------------------------------------------------------------


def stage_score(
    *,
    run: str,
    now: datetime,
    scorer: SentimentScorer | None = None,
    time_budget: float | None = SCORE_TIME_BUDGET,
) -> StageResult:
    """Score the headlines visible at ``now`` that the configured backend has not scored, in
    batches; what does not fit in ``time_budget`` seconds is left to the next run."""
    scorer = scorer or configured_scorer()
    result = news_sentiment_score(
        scorer=scorer, as_of=now, batch_size=SCORE_BATCH, time_budget=time_budget
    )
    notes = [f"backend {result.backend}"]
    if result.remaining:
        notes.append(f"{result.remaining} headline(s) left for the next run")
    return StageResult(
        counts={"scored": result.scored, "remaining": result.remaining, "batches": result.batches},
        notes=tuple(notes),
    )


# -- detect: daily detectors over a close series -----------------------------------------------


def history_times(sessions: pd.DatetimeIndex, *, weeks: int) -> list[pd.Timestamp]:
    """The session closes a daily detector keeps a history at: each Friday's close (New York) of
    the ``weeks`` weeks up to the last session, and the last session itself."""
    if len(sessions) == 0:
        return []
    last = sessions[-1]
    recent = sessions[sessions > last - pd.Timedelta(weeks=weeks)]
    fridays = recent[recent.tz_convert("America/New_York").day_of_week == 4]
    return sorted({*fridays, last})


def _positions(close: pd.Series, times: Sequence[pd.Timestamp]) -> list[tuple[pd.Timestamp, int]]:
    """For each time, the position of the asset's last bar at or before it (skipping times
    before its first bar or with a stale last bar)."""
    index = close.index
    found = (
        np.searchsorted(index.asi8, pd.DatetimeIndex(times).as_unit("ns").asi8, side="right") - 1
    )
    return [
        (t, int(p))
        for t, p in zip(times, found, strict=True)
        if p >= 0 and index[p] > t - pd.Timedelta(STALE_AFTER)
    ]


def _clip01(value: float) -> float:
    return float(min(1.0, max(0.0, value)))


def _rsi_signals(symbol: str, close: pd.Series, at: list[tuple[pd.Timestamp, int]]) -> list[Signal]:
    reading = rsi(close, RSI_PERIOD).to_numpy()
    out = []
    for t, p in at:
        r = float(reading[p])
        if math.isnan(r):
            continue
        out.append(
            Signal(
                asset=symbol,
                kind=SignalKind.RSI,
                value=(50.0 - r) / 50.0,
                confidence=_clip01(abs(r - 50.0) / 50.0),
                as_of=to_datetime(t),
                window_start=to_datetime(close.index[0]),
                window_end=to_datetime(close.index[p]),
                details={"rsi": r, "period": RSI_PERIOD},
            )
        )
    return out


def _macd_signals(
    symbol: str, close: pd.Series, at: list[tuple[pd.Timestamp, int]]
) -> list[Signal]:
    fast, slow, span = MACD_SPANS
    lines = macd(close, fast, slow, span)
    histogram = lines["histogram"]
    scale = histogram.dropna().expanding().std(ddof=0).reindex(histogram.index).to_numpy()
    values, closes = histogram.to_numpy(), close.to_numpy()
    out = []
    for t, p in at:
        h = float(values[p])
        if math.isnan(h):
            continue
        s = float(scale[p])
        confidence = math.tanh(abs(h) / s) if s > 0 else 0.0
        out.append(
            Signal(
                asset=symbol,
                kind=SignalKind.MACD,
                value=h / float(closes[p]),
                confidence=_clip01(confidence),
                as_of=to_datetime(t),
                window_start=to_datetime(close.index[0]),
                window_end=to_datetime(close.index[p]),
                details={
                    "macd": float(lines["macd"].iloc[p]),
                    "signal": float(lines["signal"].iloc[p]),
                    "histogram": h,
                    "spans": MACD_SPANS,
                },
            )
        )
    return out


def _bollinger_signals(
    symbol: str, close: pd.Series, at: list[tuple[pd.Timestamp, int]]
) -> list[Signal]:
    bands = bollinger_bands(close, BOLLINGER_PERIOD, BOLLINGER_WIDTH)
    out = []
    for t, p in at:
        row = bands.iloc[p]
        percent_b = float(row["percent_b"])
        if math.isnan(percent_b):
            continue
        out.append(
            Signal(
                asset=symbol,
                kind=SignalKind.BOLLINGER,
                value=0.5 - percent_b,
                confidence=_clip01(2.0 * abs(percent_b - 0.5)),
                as_of=to_datetime(t),
                window_start=to_datetime(close.index[p - BOLLINGER_PERIOD + 1]),
                window_end=to_datetime(close.index[p]),
                details={
                    "percent_b": percent_b,
                    "middle": float(row["middle"]),
                    "upper": float(row["upper"]),
                    "lower": float(row["lower"]),
                    "bandwidth": float(row["bandwidth"]),
                },
            )
        )
    return out


def _regime_signals(
    symbol: str, close: pd.Series, at: list[tuple[pd.Timestamp, int]]
) -> list[Signal]:
    table = volatility_regime(close, window=REGIME_WINDOW, lookback=REGIME_LOOKBACK)
    out = []
    for t, p in at:
        row = table.iloc[p]
        if pd.isna(row["regime"]):
            continue
        regime = VolatilityRegime.from_code(row["regime"])
        used = min(p + 1, REGIME_WINDOW + REGIME_LOOKBACK)
        out.append(
            Signal(
                asset=symbol,
                kind=SignalKind.VOLATILITY_REGIME,
                value=float(regime.code),
                confidence=_clip01(abs(2.0 * float(row["percentile"]) - 1.0)),
                as_of=to_datetime(t),
                window_start=to_datetime(close.index[p + 1 - used]),
                window_end=to_datetime(close.index[p]),
                details={
                    "regime": regime.value,
                    "volatility": float(row["volatility"]),
                    "low_threshold": float(row["low_threshold"]),
                    "high_threshold": float(row["high_threshold"]),
                },
            )
        )
    return out


def _mean_reversion_signals(
    symbol: str, close: pd.Series, at: list[tuple[pd.Timestamp, int]]
) -> list[Signal]:
    window = MEAN_REVERSION_WINDOW
    if len(close) < window + 1:
        return []
    table = mean_reversion(close, window=window)
    out = []
    for t, p in at:
        if p < window:
            continue
        row = table.iloc[p]
        slope, statistic = float(row["slope"]), float(row["unit_root_statistic"])
        half_life, z = float(row["half_life"]), float(row["z_score"])
        reverts = slope_reverts(slope) and statistic <= UNIT_ROOT_CRITICAL_VALUE_5PCT
        if not reverts or not half_life <= window / 2.0 or math.isnan(z):
            continue
        confidence = min(1.0, abs(z) / 3.0) * max(0.0, 1.0 - half_life / window)
        out.append(
            Signal(
                asset=symbol,
                kind=SignalKind.MEAN_REVERSION,
                value=-z,
                confidence=_clip01(confidence),
                as_of=to_datetime(t),
                window_start=to_datetime(close.index[p - window]),
                window_end=to_datetime(close.index[p]),
                details={
                    "z_score": z,
                    "half_life": half_life,
                    "kappa": -math.log(slope),
                    "equilibrium": math.exp(float(row["mean"])),
                    "stationary_std": float(row["stationary_std"]),
                    "unit_root_statistic": statistic,
                },
            )
        )
    return out


def _divergence_signals(
    symbol: str, close: pd.Series, sentiment: pd.Series, at: list[tuple[pd.Timestamp, int]]
) -> list[Signal]:
    if sentiment.empty:
        return []
    table = sentiment_divergence(
        sentiment,
        close,
        return_window=DIVERGENCE_RETURN_WINDOW,
        window=DIVERGENCE_WINDOW,
        regime_window=REGIME_WINDOW,
        regime_lookback=REGIME_LOOKBACK,
    )
    known = sentiment.index.as_unit("ns").asi8
    span = max(
        DIVERGENCE_RETURN_WINDOW + 2 * DIVERGENCE_WINDOW + 1, REGIME_WINDOW + REGIME_LOOKBACK
    )
    out = []
    for t, p in at:
        last_known = (
            int(np.searchsorted(known, pd.Timestamp(t).as_unit("ns").value, side="right")) - 1
        )
        row = table.iloc[p]
        if last_known < 0 or row["value"] == 0.0:
            continue
        start = close.index[p + 1 - min(p + 1, span)]
        before = int(np.searchsorted(known, start.as_unit("ns").value, side="right")) - 1
        if before >= 0:
            start = min(start, sentiment.index[before])
        out.append(
            Signal(
                asset=symbol,
                kind=SignalKind.SENTIMENT_DIVERGENCE,
                value=float(row["value"]),
                confidence=float(row["confidence"]),
                as_of=to_datetime(t),
                window_start=to_datetime(start),
                window_end=to_datetime(max(close.index[p], sentiment.index[last_known])),
                details={
                    "sentiment": float(row["sentiment"]),
                    "standardised_return": float(row["standardised_return"]),
                    "beta": float(row["beta"]),
                    "alpha": float(row["alpha"]),
                    "gap": float(row["gap"]),
                    "threshold": float(row["threshold"]),
                    "regime": VolatilityRegime.from_code(row["regime"]).value,
                },
            )
        )
    return out


_DAILY_DETECTORS: Mapping[
    SignalKind, Callable[[str, pd.Series, list[tuple[pd.Timestamp, int]]], list[Signal]]
] = {
    SignalKind.MEAN_REVERSION: _mean_reversion_signals,
    SignalKind.RSI: _rsi_signals,
    SignalKind.MACD: _macd_signals,
    SignalKind.BOLLINGER: _bollinger_signals,
    SignalKind.VOLATILITY_REGIME: _regime_signals,
}


def daily_signals(
    closes: pd.DataFrame,
    sentiment: Mapping[str, pd.Series],
    times: Mapping[SignalKind, Sequence[pd.Timestamp]],
) -> list[Signal]:
    """The daily detectors' signals at the given session closes, vectorised per asset.

    Each detector's table is computed once over an asset's whole close series and read at the
    requested times; every row of those tables only uses data up to its own time, so the signal
    at ``t`` equals the detector's ``*_signal(..., as_of=t)``.

    Parameters
    ----------
    closes : pd.DataFrame, shape (T, assets)
        Closes by session close (aware, sorted); NaN where an asset has no bar.
    sentiment : Mapping[str, pd.Series]
        Each asset's daily sentiment by session close (see
        :func:`signals.selectors.daily_sentiment`).
    times : Mapping[SignalKind, sequence of Timestamp]
        For each daily kind, the times to compute it at.
    """
    out: list[Signal] = []
    for symbol in closes.columns:
        close = closes[symbol].dropna()
        if len(close) < 2:
            continue
        for kind, stamps in times.items():
            at = _positions(close, stamps)
            if not at:
                continue
            try:
                if kind is SignalKind.SENTIMENT_DIVERGENCE:
                    out.extend(
                        _divergence_signals(
                            str(symbol),
                            close,
                            sentiment.get(str(symbol), pd.Series(dtype=float)),
                            at,
                        )
                    )
                else:
                    out.extend(_DAILY_DETECTORS[kind](str(symbol), close, at))
            except InvalidInput as exc:  # too little data for this detector on this asset
                logger.debug("%s on %s: %s", kind.value, symbol, exc.message)
    return out


# -- detect: pairs, books, venues ---------------------------------------------------------------


def pair_candidates(
    assets: Sequence[Asset], closes: pd.DataFrame, *, at: pd.Timestamp, max_pairs: int = MAX_PAIRS
) -> list[tuple[str, str]]:
    """The pairs to test at ``at``: assets sharing a replacement group or a sector, the
    ``max_pairs`` most correlated (daily log returns over the trailing
    :data:`PAIR_RANKING_SESSIONS` sessions up to ``at``), each oriented so that no asset leads
    two pairs (a stored signal is unique per asset, kind and time)."""
    groups: dict[str, list[str]] = defaultdict(list)
    for asset in assets:
        if asset.symbol not in closes.columns:
            continue
        if asset.replacement_group:
            groups[f"group:{asset.replacement_group}"].append(asset.symbol)
        if asset.sector:
            groups[f"sector:{asset.sector}"].append(asset.symbol)
    candidates = {(a, b) for members in groups.values() for a in members for b in members if a < b}
    if not candidates:
        return []
    known = closes.loc[closes.index <= at].iloc[-(PAIR_RANKING_SESSIONS + 1) :]
    returns = np.log(known).diff().iloc[1:]
    correlation = returns.corr(min_periods=MIN_OBSERVATIONS)
    ranked = sorted(
        (
            (-abs(float(correlation.loc[a, b])), a, b)
            for a, b in candidates
            if not math.isnan(float(correlation.loc[a, b]))
        )
    )
    leads: set[str] = set()
    chosen: list[tuple[str, str]] = []
    for _, a, b in ranked:
        if len(chosen) >= max_pairs:
            break
        if a not in leads:
            chosen.append((a, b))
            leads.add(a)
        elif b not in leads:
            chosen.append((b, a))
            leads.add(b)
    return chosen


def pair_signals(
    assets: Sequence[Asset], closes: pd.DataFrame, times: Sequence[pd.Timestamp]
) -> list[Signal]:
    """Pair-spread signals at each time, over the pairs chosen with the data known then."""
    out: list[Signal] = []
    for t in times:
        for lead, other in pair_candidates(assets, closes, at=t):
            y, x = closes[lead].dropna(), closes[other].dropna()
            if y.empty or x.empty or y.index[0] > t or x.index[0] > t:
                continue
            try:
                signal = pairs_signal(y, x, asset=lead, pair_asset=other, as_of=to_datetime(t))
            except InvalidInput as exc:
                logger.debug("pair %s/%s at %s: %s", lead, other, t, exc.message)
                continue
            if signal is not None:
                out.append(signal)
    return out


def book_signals(
    books: Mapping[str, Sequence[VenueBook]], *, as_of: datetime
) -> tuple[list[Signal], list[str]]:
    """Order-flow imbalance, depth imbalance and microprice from each asset's busiest venue, and
    the best cross-venue gap where more than one venue quotes it. Returns the signals and why
    any asset's book was left out."""
    out: list[Signal] = []
    skipped: list[str] = []
    for symbol, venues in sorted(books.items()):
        main = max(venues, key=lambda v: (len(v.frame), v.venue))
        book = main.frame.sort_index(kind="stable")
        try:
            out.append(depth_imbalance_signal(book, asset=symbol, as_of=as_of))
            out.append(microprice_signal(book, asset=symbol, as_of=as_of))
            if len(book) >= 2:
                out.append(
                    order_flow_imbalance_signal(book, asset=symbol, as_of=as_of, window=BOOK_WINDOW)
                )
        except InvalidInput as exc:
            skipped.append(f"{symbol} on {main.venue}: {exc.message}")
        if len(venues) < 2:
            continue
        quotes = pd.concat(
            [
                pd.DataFrame(
                    {
                        "venue": v.venue,
                        "bid": v.frame["bid_price_1"],
                        "ask": v.frame["ask_price_1"],
                        "bid_size": v.frame["bid_size_1"],
                        "ask_size": v.frame["ask_size_1"],
                        "taker_fee_bps": v.taker_fee_bps,
                    },
                    index=v.frame.index,
                )
                for v in venues
            ]
        ).sort_index(kind="stable")
        try:
            gap = cross_venue_signal(
                quotes,
                asset=symbol,
                as_of=as_of,
                transfer_cost=CROSS_VENUE_TRANSFER_COST,
                quantity=CROSS_VENUE_QUANTITY,
                max_quote_age=QUOTE_MAX_AGE,
            )
        except InvalidInput as exc:
            skipped.append(f"{symbol} across venues: {exc.message}")
            continue
        if gap is not None:
            out.append(gap)
    return out, skipped


def _scanned(kinds: Iterable[SignalKind], *, since: datetime) -> dict[SignalKind, set[datetime]]:
    done: dict[SignalKind, set[datetime]] = {kind: set() for kind in kinds}
    rows = DetectorScan.objects.filter(
        kind__in=[k.value for k in done], as_of__gte=since
    ).values_list("kind", "as_of")
    for kind, at in rows:
        done[SignalKind(kind)].add(at)
    return done


def stage_detect(*, run: str, now: datetime) -> StageResult:
    """Run every detector on every active asset with prices, as of ``now``, and store the
    signals.

    Daily detectors are computed at the last session close and at the history times not yet
    scanned (:func:`history_times`); order-book detectors at ``now`` from the snapshots of the
    trailing :data:`BOOK_WINDOW`. The current signals replace any stored at the same time (a redo
    of the run); history is only added.
    """
    assets = active_assets(as_of=now)
    closes = close_frame(as_of=now, asset_ids=[a.pk for a in assets])
    if closes.empty:
        return StageResult(counts={"assets": 0, "signals": 0}, notes=("no prices known yet",))
    sessions = closes.index
    latest = sessions[-1]
    history = history_times(sessions, weeks=HISTORY_WEEKS)
    pair_history = history_times(sessions, weeks=PAIR_HISTORY_WEEKS)
    scanned = _scanned(
        (*DAILY_KINDS, SignalKind.PAIR_SPREAD), since=to_datetime(min(history[0], pair_history[0]))
    )

    def due(kind: SignalKind, times: list[pd.Timestamp]) -> list[pd.Timestamp]:
        return sorted({t for t in times if to_datetime(t) not in scanned[kind]} | {latest})

    times = {kind: due(kind, history) for kind in DAILY_KINDS}
    pair_times = due(SignalKind.PAIR_SPREAD, pair_history)
    sentiment = daily_sentiment(
        as_of=now, backend=sentiment_backend(), sessions=sessions, asset_ids=[a.pk for a in assets]
    )
    signals = daily_signals(closes, sentiment, times)
    signals += pair_signals(assets, closes, pair_times)
    books = order_books(as_of=now, since=now - BOOK_WINDOW, asset_ids=[a.pk for a in assets])
    from_books, skipped = book_signals(books, as_of=now)
    signals += from_books
    current = {to_datetime(latest), now}
    scans = [(kind, to_datetime(t)) for kind, stamps in times.items() for t in stamps]
    scans += [(SignalKind.PAIR_SPREAD, to_datetime(t)) for t in pair_times]
    with transaction.atomic():
        stored = detected_signals_store(signals=signals, run=run, replace_at=current)
        detector_scans_record(scans=scans, run=run)
    by_kind: dict[str, int] = defaultdict(int)
    for signal in signals:
        by_kind[signal.kind.value] += 1
    notes = [f"latest session close {to_datetime(latest).isoformat()}"]
    notes += skipped[:20]
    return StageResult(
        counts={
            "assets": len(closes.columns),
            "signals": stored,
            "current": sum(1 for s in signals if s.as_of in current),
            "books": len(books),
            **{f"kind:{k}": n for k, n in sorted(by_kind.items())},
        },
        notes=tuple(notes),
    )


# -- views ------------------------------------------------------------------------------------


def directional_horizons() -> dict[SignalKind, timedelta]:
    """The horizon of each kind whose sign forecasts a return."""
    return {kind: horizon for kind, horizon in HORIZONS.items() if kind.directional}


def stage_views(*, run: str, now: datetime) -> StageResult:
    """Turn the current signals into bounded Black-Litterman views and store them.

    Each directional kind's confidence comes from its hit rate over the stored history (outcomes
    known by ``now`` only); every asset's total tilt is capped at the firm's ``view_max_tilt``.
    """
    assets = active_assets(as_of=now)
    closes = close_frame(as_of=now, asset_ids=[a.pk for a in assets])
    if closes.empty:
        return StageResult(counts={"views": 0}, notes=("no prices known yet: no views",))
    horizons = directional_horizons()
    weekly = [to_datetime(t) for t in history_times(closes.index, weeks=HIT_RATE_WEEKS)]
    history = signal_history(
        as_of=now,
        since=weekly[0] - timedelta(seconds=1),
        kinds=[k for k, h in horizons.items() if h == DAILY_HORIZON],
        at=weekly,
    )
    history += signal_history(
        as_of=now,
        since=now - BOOK_HIT_RATE_LOOKBACK,
        kinds=[k for k, h in horizons.items() if h != DAILY_HORIZON],
    )
    rates = hit_rate(history, closes, as_of=now, horizon=horizons)
    hit_rates_store(rates=rates, as_of=now, horizons=horizons)
    current = current_signals(as_of=now, freshness=horizons)
    firm = FirmSettings.current()
    view_set = build_views(
        current,
        universe=sorted(str(c) for c in closes.columns),
        hit_rates=rates,
        max_tilt_per_asset=float(firm.view_max_tilt),
        horizon=max(horizons.values()),
        as_of=now,
    )
    view_snapshot_store(view_set=view_set)
    notes = [
        f"{kind.value}: {rate.hits}/{rate.trials} right, confidence {rate.view_confidence:.2f}"
        for kind, rate in sorted(rates.items(), key=lambda kv: kv[0].value)
    ]
    return StageResult(
        counts={
            "views": len(view_set),
            "signals": len(current),
            "history": len(history),
            "kinds_with_confidence": sum(1 for r in rates.values() if r.view_confidence > 0),
        },
        notes=tuple(notes),
    )


#: The signal stages in order; the worker appends the stages above this layer.
SIGNAL_STAGES: Mapping[str, Callable[..., StageResult]] = {
    "ingest": stage_ingest,
    "score": stage_score,
    "detect": stage_detect,
    "views": stage_views,
}
