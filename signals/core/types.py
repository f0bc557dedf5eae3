"""The detectors' common output: a :class:`Signal` of a :class:`SignalKind` about one asset.

A signal is an observation, never an instruction: it says what a detector saw in the data of a
stated window, how strongly, and which way it expects the price to move. Signals become bounded
Black-Litterman views in :mod:`signals.core.views`; nothing here places an order.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from portfolios.core.errors import InvalidInput


class SignalKind(StrEnum):
    """What a detector measured.

    The sign of a *directional* kind's value says which way the asset's price is expected to move
    (positive: up). The other kinds describe the market (its volatility, a venue-to-venue
    arbitrage) and carry no view on the asset's return.
    """

    SENTIMENT_DIVERGENCE = "sentiment_divergence"
    DEPTH_IMBALANCE = "depth_imbalance"
    ORDER_FLOW_IMBALANCE = "order_flow_imbalance"
    MICROPRICE = "microprice"
    MEAN_REVERSION = "mean_reversion"
    PAIR_SPREAD = "pair_spread"
    CROSS_VENUE_GAP = "cross_venue_gap"
    RSI = "rsi"
    MACD = "macd"
    BOLLINGER = "bollinger"
    ATR = "atr"
    VOLATILITY_REGIME = "volatility_regime"

    @property
    def directional(self) -> bool:
        """Whether the value's sign forecasts the direction of the asset's return."""
        return self not in _NON_DIRECTIONAL

    @property
    def relative(self) -> bool:
        """Whether the signal is about two assets (a long leg against a short leg)."""
        return self is SignalKind.PAIR_SPREAD

    @property
    def label(self) -> str:
        """The kind in words, for explanations shown to people."""
        return _LABELS[self]


_NON_DIRECTIONAL = frozenset(
    {SignalKind.CROSS_VENUE_GAP, SignalKind.ATR, SignalKind.VOLATILITY_REGIME}
)

_LABELS = {
    SignalKind.SENTIMENT_DIVERGENCE: "news sentiment divergence",
    SignalKind.DEPTH_IMBALANCE: "order book depth imbalance",
    SignalKind.ORDER_FLOW_IMBALANCE: "order flow imbalance",
    SignalKind.MICROPRICE: "microprice",
    SignalKind.MEAN_REVERSION: "mean reversion",
    SignalKind.PAIR_SPREAD: "pair spread",
    SignalKind.CROSS_VENUE_GAP: "cross-venue price gap",
    SignalKind.RSI: "RSI",
    SignalKind.MACD: "MACD",
    SignalKind.BOLLINGER: "Bollinger bands",
    SignalKind.ATR: "average true range",
    SignalKind.VOLATILITY_REGIME: "volatility regime",
}


class VolatilityRegime(StrEnum):
    """Realised volatility against its own trailing history."""

    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"

    @property
    def code(self) -> int:
        """-1 for low, 0 for normal, 1 for high: the numeric form used in series."""
        return {"low": -1, "normal": 0, "high": 1}[self.value]

    @classmethod
    def from_code(cls, code: float) -> VolatilityRegime:
        """The regime for a numeric code (-1, 0 or 1)."""
        for regime in cls:
            if regime.code == code:
                return regime
        raise InvalidInput(f"volatility regime code must be -1, 0 or 1, got {code!r}")


def _require_aware(name: str, value: datetime) -> None:
    if not isinstance(value, datetime):
        raise InvalidInput(f"{name} must be a datetime, got {type(value).__name__}", field=name)
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput(f"{name} must be timezone-aware, got naive {value!r}", field=name)


@dataclass(frozen=True)
class Signal:
    """One detector output about one asset at one time.

    Attributes
    ----------
    asset : str
        Symbol of the asset (for a pair, the first leg; ``details["pair_asset"]`` names the other).
    kind : SignalKind
        What was measured.
    value : float
        The measurement; for directional kinds its sign is the expected direction of the price.
    confidence : float
        The detector's own confidence in ``value``, in [0, 1].
    as_of : datetime
        When the signal was known (aware). No data after ``as_of`` was used.
    window_start, window_end : datetime
        First and last timestamps of the data the detector used (``window_end <= as_of``).
    details : Mapping[str, Any]
        Detector-specific figures behind the value (thresholds, fitted parameters...), read-only.
    """

    asset: str
    kind: SignalKind
    value: float
    confidence: float
    as_of: datetime
    window_start: datetime
    window_end: datetime
    details: Mapping[str, Any] = field(default_factory=dict, hash=False, compare=True)

    def __post_init__(self) -> None:
        if not isinstance(self.asset, str) or not self.asset.strip():
            raise InvalidInput("signal asset must be a non-empty symbol", field="asset")
        if not isinstance(self.kind, SignalKind):
            try:
                object.__setattr__(self, "kind", SignalKind(self.kind))
            except ValueError as exc:
                raise InvalidInput(f"unknown signal kind {self.kind!r}", field="kind") from exc
        value = float(self.value)
        if not math.isfinite(value):
            raise InvalidInput(f"signal value must be finite, got {self.value!r}", field="value")
        object.__setattr__(self, "value", value)
        confidence = float(self.confidence)
        if not (0.0 <= confidence <= 1.0):
            raise InvalidInput(
                f"signal confidence must be in [0, 1], got {self.confidence!r}", field="confidence"
            )
        object.__setattr__(self, "confidence", confidence)
        for name in ("as_of", "window_start", "window_end"):
            _require_aware(name, getattr(self, name))
        if self.window_start > self.window_end:
            raise InvalidInput(
                f"signal window starts {self.window_start} after it ends {self.window_end}",
                field="window_start",
            )
        if self.window_end > self.as_of:
            raise InvalidInput(
                f"signal window ends {self.window_end}, after its as_of {self.as_of}: look-ahead",
                field="window_end",
            )
        object.__setattr__(self, "details", MappingProxyType(dict(self.details)))

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["details"] = dict(self.details)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            object.__setattr__(self, name, value)
        object.__setattr__(self, "details", MappingProxyType(dict(state["details"])))

    @property
    def direction(self) -> int:
        """-1, 0 or 1: the sign of ``value``."""
        return (self.value > 0) - (self.value < 0)
