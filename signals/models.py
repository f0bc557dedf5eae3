"""News and what the pipeline derives from it."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from portfolios.models import Asset, PriceField, QuantityField


class NewsItem(models.Model):
    """A headline from a feed, deduplicated by content.

    ``published_at`` is when the source published it, ``ingested_at`` when we stored it: a
    computation for time t only uses items with both at or before t (no look-ahead).
    """

    source = models.CharField(max_length=100)
    external_id = models.CharField(max_length=200, blank=True)
    headline = models.CharField(max_length=500)
    summary = models.TextField(blank=True)
    url = models.URLField(max_length=500, blank=True)
    published_at = models.DateTimeField(db_index=True)
    ingested_at = models.DateTimeField(db_index=True)
    symbols = models.JSONField(default=list, blank=True)
    assets = models.ManyToManyField(Asset, related_name="news", blank=True)
    content_hash = models.CharField(max_length=64, unique=True)
    is_demo = models.BooleanField(default=False)

    class Meta:
        ordering = ["-published_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=~Q(headline=""), name="newsitem_headline_not_empty"),
        ]

    def __str__(self) -> str:
        return f"{self.published_at:%Y-%m-%d %H:%M} {self.source}: {self.headline[:60]}"


class SentimentScore(models.Model):
    """One news item scored by one sentiment backend."""

    news = models.ForeignKey(NewsItem, on_delete=models.CASCADE, related_name="scores")
    backend = models.CharField(max_length=32)
    label = models.CharField(max_length=8)
    score = models.FloatField(help_text="p(positive) - p(negative), in [-1, 1]")
    p_negative = models.FloatField()
    p_neutral = models.FloatField()
    p_positive = models.FloatField()
    scored_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["news", "backend"], name="sentiment_unique_news_backend"
            ),
            models.CheckConstraint(
                condition=Q(score__gte=-1, score__lte=1), name="sentiment_score_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.news_id} {self.backend}: {self.label} {self.score:+.2f}"


class DetectedSignal(models.Model):
    """A detector's output for one asset at one time, with the window of data it used."""

    asset = models.ForeignKey(Asset, on_delete=models.CASCADE, related_name="signals")
    kind = models.CharField(max_length=32, db_index=True)
    value = models.FloatField()
    confidence = models.FloatField()
    as_of = models.DateTimeField(db_index=True)
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    details = models.JSONField(default=dict, blank=True)
    run = models.CharField(max_length=64, blank=True, help_text="Pipeline run that produced it")

    class Meta:
        ordering = ["-as_of", "asset_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["asset", "kind", "as_of"], name="signal_unique_asset_kind_time"
            ),
            models.CheckConstraint(
                condition=Q(confidence__gte=0, confidence__lte=1), name="signal_confidence_range"
            ),
            models.CheckConstraint(
                condition=Q(window_end__lte=models.F("as_of")), name="signal_no_lookahead"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.asset_id} {self.value:+.3f} at {self.as_of:%Y-%m-%d %H:%M}"


class ViewSnapshot(models.Model):
    """The Black-Litterman views built from the signals at one time; recommendations use the latest."""

    as_of = models.DateTimeField(unique=True)
    symbols = models.JSONField(help_text="Universe order of the columns of P")
    views = models.JSONField(help_text="[{p: [...], q, confidence, explanation, kinds}]")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-as_of"]

    def __str__(self) -> str:
        return f"{len(self.views)} views at {self.as_of:%Y-%m-%d %H:%M}"


class OrderBookSnapshot(models.Model):
    """One venue's order book for one asset at one moment: the best level in columns, deeper
    levels (if the venue gives them) in ``depth``.

    ``captured_at`` is the venue's timestamp of the book, ``ingested_at`` when we stored it; the
    detectors at time t only read snapshots with both at or before t.
    """

    asset = models.ForeignKey(Asset, on_delete=models.CASCADE, related_name="book_snapshots")
    venue = models.CharField(max_length=32, help_text="Where the book was quoted")
    captured_at = models.DateTimeField()
    ingested_at = models.DateTimeField()
    bid_price = PriceField()
    bid_size = QuantityField()
    ask_price = PriceField()
    ask_size = QuantityField()
    depth = models.JSONField(
        default=list,
        blank=True,
        help_text='Levels 2 and deeper: [["bid price", "bid size", "ask price", "ask size"], ...]',
    )
    taker_fee_bps = models.DecimalField(
        max_digits=8, decimal_places=3, default=0, help_text="The venue's taker fee, basis points"
    )
    source = models.CharField(max_length=32, blank=True, help_text="The feed that delivered it")

    class Meta:
        ordering = ["asset_id", "venue", "captured_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["asset", "venue", "captured_at"], name="book_unique_asset_venue_time"
            ),
            models.CheckConstraint(
                condition=Q(bid_price__gt=0, ask_price__gt=0), name="book_prices_positive"
            ),
            models.CheckConstraint(
                condition=Q(bid_price__lte=models.F("ask_price")), name="book_not_crossed"
            ),
            models.CheckConstraint(
                condition=Q(bid_size__gte=0, ask_size__gte=0), name="book_sizes_nonnegative"
            ),
            models.CheckConstraint(
                condition=Q(taker_fee_bps__gte=0, taker_fee_bps__lt=10_000),
                name="book_fee_range",
            ),
        ]
        indexes = [models.Index(fields=["asset", "captured_at"], name="book_asset_time_idx")]

    def __str__(self) -> str:
        return (
            f"{self.asset_id} {self.venue} {self.bid_price}x{self.ask_price} "
            f"at {self.captured_at:%Y-%m-%d %H:%M:%S}"
        )


class HitRateEstimate(models.Model):
    """How often one signal kind's direction was right, measured at one time.

    The views stage writes one row per directional kind per run; the confidence of the views
    built at ``as_of`` comes from these figures.
    """

    as_of = models.DateTimeField(db_index=True)
    kind = models.CharField(max_length=32)
    hits = models.PositiveIntegerField()
    trials = models.PositiveIntegerField()
    prior_strength = models.FloatField()
    shrunk = models.FloatField(help_text="(hits + s/2) / (trials + s)")
    view_confidence = models.FloatField(help_text="clamp(2 (shrunk - 0.5), 0, 1)")
    horizon = models.DurationField(help_text="How far ahead the kind's direction was checked")

    class Meta:
        ordering = ["-as_of", "kind"]
        constraints = [
            models.UniqueConstraint(fields=["as_of", "kind"], name="hitrate_unique_time_kind"),
            models.CheckConstraint(
                condition=Q(hits__lte=models.F("trials")), name="hitrate_hits_le_trials"
            ),
            models.CheckConstraint(
                condition=Q(shrunk__gte=0, shrunk__lte=1), name="hitrate_shrunk_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.hits}/{self.trials} at {self.as_of:%Y-%m-%d %H:%M}"


class DetectorScan(models.Model):
    """One detector kind run over the whole universe at one time, whether or not it fired.

    Detected signals at a past session close never change (they only use what was known then), so
    the detect stage skips the times each kind has already been scanned at.
    """

    kind = models.CharField(max_length=32)
    as_of = models.DateTimeField()
    run = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-as_of", "kind"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "as_of"], name="detectorscan_unique_kind_time"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} scanned at {self.as_of:%Y-%m-%d %H:%M}"
