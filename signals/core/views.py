"""From signals to bounded Black-Litterman views, with the track record that sets their confidence.

A signal kind earns confidence only by having been right: :func:`hit_rate` measures, for each
directional kind, how often the sign of its past signals matched the return that followed over
the horizon, shrunk toward a coin flip while the sample is small and counting only outcomes
already known at ``as_of``. :func:`build_views` then turns the current signals into views:

* one *absolute* view per asset, combining every signal kind on that asset, each weighted by
  ``c = clamp(2 (hit_rate - 0.5), 0, 1) * signal confidence``;
* one *relative* view per cointegrated pair, long the cheap leg and short the rich one.

A view's tilt is the maximum tilt times the weighted agreement of its signals' directions
(``sum c * sign / sum c``), so it never exceeds the cap; then every view touching an asset is
scaled down until, for each asset j, ``sum_k |P_kj| * |tilt_k| <= max_tilt_per_asset``. ``Q`` is
the tilt added to the equilibrium return of the view's portfolio (``P pi``), and each view's
confidence (for Idzorek's method) is the ``c``-weighted mean of its signals' ``c``. Signals only
ever produce views; nothing here places an order.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import numpy as np
import pandas as pd

from portfolios.core.errors import InvalidInput
from signals.core.timeseries import require_aware
from signals.core.types import Signal, SignalKind

DEFAULT_PRIOR_STRENGTH = 20.0


def _signed_pct(x: float) -> str:
    """``+1.2%`` or ``−1.2%`` (a minus sign, not a hyphen)."""
    return f"{x:+.1%}".replace("-", "\u2212")


@dataclass(frozen=True)
class HitRate:
    """How often one signal kind's direction was right.

    Attributes
    ----------
    kind : SignalKind
    hits : int
        Signals whose sign matched the realised return over the horizon.
    trials : int
        Signals whose outcome was known (a zero return counts as neither).
    prior_strength : float
        Pseudo-signals, half right and half wrong, that the estimate starts from.
    """

    kind: SignalKind
    hits: int
    trials: int
    prior_strength: float = DEFAULT_PRIOR_STRENGTH

    @property
    def raw(self) -> float:
        """``hits / trials`` (NaN with no trials)."""
        return self.hits / self.trials if self.trials else math.nan

    @property
    def shrunk(self) -> float:
        """``(hits + s/2) / (trials + s)``: the Beta(s/2, s/2)-prior mean, 0.5 with no trials."""
        half = self.prior_strength / 2.0
        return (self.hits + half) / (self.trials + self.prior_strength)

    @property
    def view_confidence(self) -> float:
        """``clamp(2 (shrunk - 0.5), 0, 1)``: what a fully confident signal of this kind earns."""
        return min(1.0, max(0.0, 2.0 * (self.shrunk - 0.5)))


def _horizon_of(kind: SignalKind, horizon: timedelta | Mapping[SignalKind, timedelta]) -> timedelta:
    if isinstance(horizon, Mapping):
        if kind not in horizon:
            raise InvalidInput(f"no horizon given for signal kind {kind.value}", field="horizon")
        value = horizon[kind]
    else:
        value = horizon
    if not isinstance(value, timedelta) or value <= timedelta(0):
        raise InvalidInput(f"horizon must be a positive timedelta, got {value!r}", field="horizon")
    return value


def _require_prices(prices: pd.DataFrame, as_of: datetime) -> pd.DataFrame:
    if not isinstance(prices, pd.DataFrame):
        raise InvalidInput("prices must be a DataFrame of assets by timestamp", field="prices")
    if not isinstance(prices.index, pd.DatetimeIndex) or prices.index.tz is None:
        raise InvalidInput("prices must be indexed by aware timestamps", field="prices")
    if not prices.index.is_monotonic_increasing or not prices.index.is_unique:
        raise InvalidInput("prices must be sorted by time, one row per timestamp", field="prices")
    known = prices.loc[prices.index <= require_aware(as_of)].astype("float64")
    values = known.to_numpy()
    if (np.isinf(values)).any() or (values <= 0).any():
        raise InvalidInput(
            "prices must be positive and finite (missing is allowed)", field="prices"
        )
    return known


def _log_price_at(
    prices: pd.DataFrame, asset: str, times: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Log of the last known price of ``asset`` at or before each time (nanoseconds), and the
    time of that price; NaN where there is none."""
    missing = np.full(len(times), np.nan)
    if asset not in prices.columns:
        return missing, missing
    column = prices[asset].dropna()
    if column.empty:
        return missing, missing
    stamps = column.index.as_unit("ns").asi8
    position = np.searchsorted(stamps, times, side="right") - 1
    found = position >= 0
    safe = np.where(found, position, 0)
    log_price = np.where(found, np.log(column.to_numpy()[safe]), np.nan)
    when = np.where(found, stamps[safe].astype("float64"), np.nan)
    return log_price, when


def _nanoseconds(moment: datetime) -> int:
    return int(pd.Timestamp(moment).as_unit("ns").value)


def forward_returns(
    signals: Sequence[Signal],
    prices: pd.DataFrame,
    *,
    as_of: datetime,
    horizon: timedelta | Mapping[SignalKind, timedelta],
) -> np.ndarray:
    """The realised log return that followed each signal over its horizon, if known by ``as_of``.

    For a pair signal it is the return of its spread, ``r_asset - hedge_ratio * r_pair_asset``.

    Parameters
    ----------
    signals : sequence of Signal, length N
    prices : pd.DataFrame, shape (T, assets)
        Prices by timestamp (aware, sorted); missing values allowed. Rows after ``as_of`` are
        ignored.
    as_of : datetime
        Only outcomes complete by then (``signal.as_of + horizon <= as_of``) count.
    horizon : timedelta or Mapping[SignalKind, timedelta]

    Returns
    -------
    np.ndarray, shape (N,)
        NaN where the outcome is not yet known or a price is missing.
    """
    stamp = require_aware(as_of)
    known = _require_prices(prices, stamp)
    result = np.full(len(signals), np.nan)
    groups: dict[tuple[str, str | None], list[int]] = defaultdict(list)
    for position, signal in enumerate(signals):
        other = signal.details.get("pair_asset") if signal.kind.relative else None
        groups[(signal.asset, other)].append(position)
    limit = _nanoseconds(stamp)
    for (asset, other), positions in groups.items():
        chosen = [signals[p] for p in positions]
        start = np.array([_nanoseconds(s.as_of) for s in chosen], dtype="int64")
        end = np.array(
            [_nanoseconds(s.as_of + _horizon_of(s.kind, horizon)) for s in chosen], dtype="int64"
        )
        complete = end <= limit
        log_start, when_start = _log_price_at(known, asset, start)
        log_end, when_end = _log_price_at(known, asset, end)
        moved = when_end > when_start
        change = np.where(moved & complete, log_end - log_start, np.nan)
        if other is not None:
            ratio = np.array([float(s.details.get("hedge_ratio", np.nan)) for s in chosen])
            other_start, _ = _log_price_at(known, str(other), start)
            other_end, _ = _log_price_at(known, str(other), end)
            change = change - ratio * (other_end - other_start)
        result[positions] = change
    return result


def hit_rate(
    signals: Iterable[Signal],
    prices: pd.DataFrame,
    *,
    as_of: datetime,
    horizon: timedelta | Mapping[SignalKind, timedelta],
    prior_strength: float = DEFAULT_PRIOR_STRENGTH,
) -> dict[SignalKind, HitRate]:
    """Each directional kind's record: how often its sign matched the return that followed.

    Signals stamped after ``as_of``, without direction (zero value or zero confidence), or of a
    kind without direction (ATR, volatility regime, cross-venue gap) are left out, as are
    outcomes not complete by ``as_of``.

    Parameters
    ----------
    signals : iterable of Signal
        The history of signals.
    prices : pd.DataFrame, shape (T, assets)
        Realised prices by timestamp, from which the forward returns are measured.
    as_of : datetime
    horizon : timedelta or Mapping[SignalKind, timedelta]
        How far ahead each kind forecasts.
    prior_strength : float
        Pseudo-observations of the shrinkage toward 0.5 (a Beta(s/2, s/2) prior).

    Returns
    -------
    dict[SignalKind, HitRate]
        One entry per directional kind present in ``signals``.
    """
    stamp = require_aware(as_of)
    if not (math.isfinite(prior_strength) and prior_strength >= 0):
        raise InvalidInput("prior_strength must be >= 0", field="prior_strength")
    history = [
        s
        for s in signals
        if s.kind.directional and s.as_of <= stamp and s.value != 0 and s.confidence > 0
    ]
    returns = forward_returns(history, prices, as_of=stamp, horizon=horizon)
    directions = np.array([s.direction for s in history], dtype="float64")
    outcome = np.sign(returns)
    decided = np.isfinite(returns) & (outcome != 0)
    right = decided & (outcome == directions)
    kinds = np.array([s.kind.value for s in history], dtype=object)
    rates = {}
    for kind in dict.fromkeys(s.kind for s in history):
        of_kind = kinds == kind.value
        rates[kind] = HitRate(
            kind=kind,
            hits=int((right & of_kind).sum()),
            trials=int((decided & of_kind).sum()),
            prior_strength=float(prior_strength),
        )
    return rates


@dataclass(frozen=True)
class ViewContribution:
    """One signal's part in a view."""

    asset: str
    kind: SignalKind
    value: float
    direction: int
    signal_confidence: float
    hit_rate: float
    weight: float
    as_of: datetime


@dataclass(frozen=True)
class View:
    """One row of ``P``/``Q`` and where it came from.

    Attributes
    ----------
    form : "absolute" or "relative"
    assets, weights : tuple
        The nonzero entries of the view's row of ``P`` (for a relative view the long leg first).
    tilt : float
        The view's expected excess return over its portfolio's equilibrium return (annualised).
    expected_return : float
        Its ``Q``: equilibrium return of the view's portfolio plus ``tilt``.
    confidence : float
        Idzorek confidence in [0, 1].
    contributions : tuple of ViewContribution
    """

    form: Literal["absolute", "relative"]
    assets: tuple[str, ...]
    weights: tuple[float, ...]
    tilt: float
    expected_return: float
    confidence: float
    contributions: tuple[ViewContribution, ...]

    @property
    def explanation(self) -> str:
        """The view in a sentence, e.g. "positive news sentiment divergence on XOM tilted +1.2%"
        (a negative tilt with a minus sign, "−1.2%", as the portal writes negative figures)."""
        parts = list(
            dict.fromkeys(
                f"{'positive' if c.direction > 0 else 'negative'} {c.kind.label}"
                for c in self.contributions
            )
        )
        if self.form == "absolute":
            return f"{' and '.join(parts)} on {self.assets[0]} tilted {_signed_pct(self.tilt)}"
        kinds = " and ".join(dict.fromkeys(c.kind.label for c in self.contributions))
        return (
            f"{kinds}: long {self.assets[0]}, short {self.assets[1]} "
            f"(hedge {abs(self.weights[1]) / abs(self.weights[0]):.2f}) "
            f"tilted {_signed_pct(self.tilt)}"
        )


@dataclass(frozen=True, eq=False)
class ViewSet:
    """Bounded Black-Litterman views over a universe.

    Attributes
    ----------
    universe : tuple of str, length n
        Column order of ``P``.
    P : np.ndarray, shape (k, n)
        Pick matrix: one row per view.
    Q : np.ndarray, shape (k,)
        Expected excess returns of the views' portfolios (annualised).
    confidences : np.ndarray, shape (k,)
        Idzorek confidences in [0, 1].
    tilts : np.ndarray, shape (k,)
        ``Q - P pi``: what the signals add to equilibrium.
    views : tuple of View, length k
        Provenance of each row.
    as_of : datetime
    horizon : timedelta
    max_tilt_per_asset : float
    """

    universe: tuple[str, ...]
    P: np.ndarray
    Q: np.ndarray
    confidences: np.ndarray
    tilts: np.ndarray
    views: tuple[View, ...]
    as_of: datetime
    horizon: timedelta
    max_tilt_per_asset: float

    def __post_init__(self) -> None:
        for name in ("P", "Q", "confidences", "tilts"):
            array = np.array(getattr(self, name), dtype="float64")
            array.setflags(write=False)
            object.__setattr__(self, name, array)

    def __len__(self) -> int:
        return len(self.views)

    @property
    def asset_tilt_exposure(self) -> np.ndarray:
        """``sum_k |P_kj| |tilt_k|`` per asset, shape (n,): never above ``max_tilt_per_asset``."""
        return np.asarray(np.abs(self.P).T @ np.abs(self.tilts))

    @property
    def asset_tilts(self) -> np.ndarray:
        """``P' tilt`` per asset, shape (n,): the signed tilt the views put on each asset."""
        return np.asarray(self.P.T @ self.tilts)


def _confidence_of(kind: SignalKind, hit_rates: Mapping[SignalKind, HitRate | float]) -> float:
    rate = hit_rates.get(kind)
    if rate is None:
        return 0.5
    if isinstance(rate, HitRate):
        return rate.shrunk
    value = float(rate)
    if not (0.0 <= value <= 1.0):
        raise InvalidInput(
            f"hit rate of {kind.value} must be in [0, 1], got {rate!r}", field="hit_rates"
        )
    return value


@dataclass
class _Draft:
    form: Literal["absolute", "relative"]
    first: str
    second: str | None
    contributions: list[ViewContribution]
    hedge_ratios: list[float]


def _pair_in_order(signal: Signal) -> tuple[str, str, float, int]:
    """The pair as (first, second, hedge ratio of first on second, direction) with the two
    symbols in sorted order, so one pair seen both ways makes one view."""
    other = signal.details.get("pair_asset")
    ratio = signal.details.get("hedge_ratio")
    if not isinstance(other, str) or other == signal.asset:
        raise InvalidInput(
            f"pair signal on {signal.asset} needs a pair_asset in its details", field="signals"
        )
    try:
        ratio = float(ratio)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise InvalidInput(
            f"pair signal on {signal.asset}/{other} needs a numeric hedge_ratio", field="signals"
        ) from exc
    if not math.isfinite(ratio) or ratio == 0:
        raise InvalidInput(
            f"pair signal on {signal.asset}/{other} has hedge ratio {ratio!r}", field="signals"
        )
    if signal.asset < other:
        return signal.asset, other, ratio, signal.direction
    # y - b x = -b (x - y / b): the same spread seen from x, scaled by -b.
    return other, signal.asset, 1.0 / ratio, -signal.direction * (1 if ratio > 0 else -1)


def build_views(
    signals: Iterable[Signal],
    *,
    universe: Sequence[str],
    hit_rates: Mapping[SignalKind, HitRate | float],
    max_tilt_per_asset: float,
    horizon: timedelta,
    as_of: datetime,
    equilibrium_returns: Mapping[str, float] | None = None,
) -> ViewSet:
    """Combine current signals into bounded Black-Litterman views.

    Parameters
    ----------
    signals : iterable of Signal
        Current signals. Those stamped after ``as_of`` or at/before ``as_of - horizon`` (expired),
        on assets outside ``universe``, of kinds without direction, or with zero value are left
        out.
    universe : sequence of str, length n
        Assets, in the column order of ``P``.
    hit_rates : Mapping[SignalKind, HitRate or float]
        Each kind's measured hit rate; a kind without one counts as a coin flip (no confidence).
    max_tilt_per_asset : float
        Largest tilt (annualised excess return) the views together may put on any one asset.
    horizon : timedelta
        How long a signal stays current.
    as_of : datetime
    equilibrium_returns : Mapping[str, float], optional
        The prior's excess returns ``pi`` per asset; ``Q = P pi + tilt``. Without it ``Q`` is the
        tilt alone.

    Returns
    -------
    ViewSet
        ``P`` has shape (k, n); empty (0, n) when no signal survives.
    """
    stamp = require_aware(as_of)
    names = tuple(universe)
    if not names:
        raise InvalidInput("the universe is empty", field="universe")
    if len(set(names)) != len(names) or not all(isinstance(a, str) and a for a in names):
        raise InvalidInput("universe symbols must be distinct non-empty strings", field="universe")
    if not (math.isfinite(max_tilt_per_asset) and max_tilt_per_asset > 0):
        raise InvalidInput(
            f"max_tilt_per_asset must be positive, got {max_tilt_per_asset!r}",
            field="max_tilt_per_asset",
        )
    if not isinstance(horizon, timedelta) or horizon <= timedelta(0):
        raise InvalidInput(
            f"horizon must be a positive timedelta, got {horizon!r}", field="horizon"
        )
    column = {asset: j for j, asset in enumerate(names)}
    prior = np.zeros(len(names))
    if equilibrium_returns is not None:
        missing = [a for a in names if a not in equilibrium_returns]
        if missing:
            raise InvalidInput(
                f"equilibrium returns missing for {', '.join(missing)}", field="equilibrium_returns"
            )
        prior = np.array([float(equilibrium_returns[a]) for a in names])
        if not np.isfinite(prior).all():
            raise InvalidInput("equilibrium returns must be finite", field="equilibrium_returns")

    drafts: dict[tuple[str, str | None], _Draft] = {}
    for signal in signals:
        if not isinstance(signal, Signal):
            raise InvalidInput(f"expected a Signal, got {type(signal).__name__}", field="signals")
        fresh = stamp - horizon < signal.as_of <= stamp
        if not (signal.kind.directional and fresh and signal.value != 0):
            continue
        rate = _confidence_of(signal.kind, hit_rates)
        weight = min(1.0, max(0.0, 2.0 * (rate - 0.5))) * signal.confidence
        if weight <= 0 or signal.asset not in column:
            continue
        if signal.kind.relative:
            first, second, ratio, direction = _pair_in_order(signal)
            if second not in column:
                continue
            key: tuple[str, str | None] = (first, second)
            form: Literal["absolute", "relative"] = "relative"
        else:
            first, second, ratio, direction = signal.asset, None, 1.0, signal.direction
            key = (first, None)
            form = "absolute"
        draft = drafts.setdefault(key, _Draft(form, first, second, [], []))
        draft.hedge_ratios.append(ratio)
        draft.contributions.append(
            ViewContribution(
                asset=signal.asset,
                kind=signal.kind,
                value=signal.value,
                direction=direction,
                signal_confidence=signal.confidence,
                hit_rate=rate,
                weight=weight,
                as_of=signal.as_of,
            )
        )

    rows: list[np.ndarray] = []
    raw_tilts: list[float] = []
    confidences: list[float] = []
    kept: list[_Draft] = []
    for key in sorted(drafts, key=lambda k: (drafts[k].form, k[0], k[1] or "")):
        draft = drafts[key]
        weights = np.array([c.weight for c in draft.contributions])
        signs = np.array([c.direction for c in draft.contributions], dtype="float64")
        gross = float(weights.sum())
        net = float(weights @ signs)
        if abs(net) <= 1e-12 * gross:
            continue  # the signals cancel out: no view rather than a view of "no change"
        row = np.zeros(len(names))
        if draft.second is None:
            row[column[draft.first]] = 1.0
            tilt = max_tilt_per_asset * net / gross
        else:
            hedges = np.array(draft.hedge_ratios)
            ratio = float(weights @ hedges) / gross
            if abs(ratio) <= 1e-12 * float(weights @ np.abs(hedges)) / gross:
                # hedge ratios of opposite signs cancel: no spread is left to take a view on
                continue
            orientation = 1.0 if net > 0 else -1.0
            row[column[draft.first]] = orientation
            row[column[draft.second]] = -orientation * ratio
            tilt = max_tilt_per_asset * abs(net) / gross
        rows.append(row)
        raw_tilts.append(tilt)
        confidences.append(min(1.0, max(0.0, float(weights @ weights) / gross)))
        kept.append(draft)

    pick = np.array(rows).reshape(len(rows), len(names))
    tilts = np.array(raw_tilts, dtype="float64")
    if len(rows):
        exposure = np.abs(pick).T @ np.abs(tilts)
        scale_per_asset = np.where(
            exposure > max_tilt_per_asset, max_tilt_per_asset / np.maximum(exposure, 1e-300), 1.0
        )
        touches = np.abs(pick) > 0
        view_scale = np.where(touches, scale_per_asset[None, :], np.inf).min(axis=1)
        tilts = tilts * np.minimum(view_scale, 1.0)
    expected = pick @ prior + tilts

    views = []
    for k, draft in enumerate(kept):
        nonzero = np.flatnonzero(pick[k])
        order = sorted(nonzero, key=lambda j: -pick[k, j])
        views.append(
            View(
                form=draft.form,
                assets=tuple(names[j] for j in order),
                weights=tuple(float(pick[k, j]) for j in order),
                tilt=float(tilts[k]),
                expected_return=float(expected[k]),
                confidence=confidences[k],
                contributions=tuple(draft.contributions),
            )
        )
    return ViewSet(
        universe=names,
        P=pick,
        Q=expected,
        confidences=np.array(confidences, dtype="float64"),
        tilts=tilts,
        views=tuple(views),
        as_of=as_of,
        horizon=horizon,
        max_tilt_per_asset=float(max_tilt_per_asset),
    )
