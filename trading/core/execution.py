"""Execution plans: slice a parent order into child orders over a time window.

Algorithms:

- ``MARKET``: one market child at ``start``.
- ``LIMIT``: one limit child at ``start``.
- ``TWAP``: equal slices at equal intervals over [start, end).
- ``VWAP``: slices proportional to a volume profile (fractions per interval); by default the
  stylised U-shaped US equity profile of :func:`us_equity_volume_profile`, laid over the regular
  session of ``start``'s New York date.
- ``ICEBERG``: limit children of ``display_quantity`` each; only the first is released at
  ``start``, each later one after the previous one fills.

Child quantities are ``Decimal`` multiples of the lot step (1e-9 share, or one share when the asset
is not fractionable) and sum exactly to the parent's quantity. Slices are computed in exact integer
lot units; the units left over by rounding each slice down go to the last slice (TWAP, iceberg) or
to the slice with the largest profile fraction (VWAP, the last of equal largest ones). A slice that
would be empty is dropped (TWAP uses fewer slices instead), so no child has zero quantity. Child
client order ids are ``f"{parent}-{seq:03d}"``, with the parent part shortened by a hash when
needed to stay within 48 characters (Alpaca's limit).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction

from portfolios.core.errors import InvalidInput
from portfolios.core.money import QUANTITY_QUANT, Number, to_decimal
from trading.core.orders import (
    MAX_CLIENT_ORDER_ID_LENGTH,
    OrderIntent,
    OrderType,
    is_lot_multiple,
    lot_step,
    require_aware,
)
from trading.core.sessions import regular_session_for

MAX_CHILDREN = 999
"""Most child orders one plan may hold (sequence numbers stay three digits)."""

_SEQUENCE_SUFFIX_LENGTH = 4  # "-" and three digits


class ExecutionAlgo(StrEnum):
    MARKET = "market"
    LIMIT = "limit"
    TWAP = "twap"
    VWAP = "vwap"
    ICEBERG = "iceberg"


@dataclass(frozen=True)
class ChildOrder:
    """One slice of a parent order.

    Attributes
    ----------
    client_order_id
        Deterministic: derived from the parent's id and ``sequence``.
    sequence
        1-based position in the plan.
    scheduled_at
        Earliest time to send the child.
    quantity
        Shares, strictly positive.
    order_type, limit_price
        Market, or limit at ``limit_price``.
    after_previous_fill
        True when the child is released only after the previous child has filled (iceberg).
    """

    client_order_id: str
    sequence: int
    scheduled_at: datetime
    quantity: Decimal
    order_type: OrderType
    limit_price: Decimal | None
    after_previous_fill: bool = False


@dataclass(frozen=True)
class ExecutionPlan:
    """A parent order and its child orders.

    Attributes
    ----------
    parent
        The order being worked.
    algo
        The slicing algorithm.
    start, end
        The execution window.
    children
        Child orders in sequence order; their quantities sum to ``parent.quantity``.
    volume_profile
        For VWAP, the normalised weight of each interval (shape ``(n_slices,)``, summing to 1,
        including intervals whose slice was dropped); empty otherwise.
    """

    parent: OrderIntent
    algo: ExecutionAlgo
    start: datetime
    end: datetime
    children: tuple[ChildOrder, ...]
    volume_profile: tuple[float, ...] = ()

    @property
    def total_quantity(self) -> Decimal:
        return sum((c.quantity for c in self.children), start=Decimal(0))

    def child_intent(self, child: ChildOrder) -> OrderIntent:
        """The child as an order intent for the same account, symbol and side as the parent."""
        return OrderIntent(
            client_order_id=child.client_order_id,
            account_key=self.parent.account_key,
            symbol=self.parent.symbol,
            side=self.parent.side,
            quantity=child.quantity,
            order_type=child.order_type,
            limit_price=child.limit_price,
            time_in_force=self.parent.time_in_force,
            not_before=child.scheduled_at,
        )


def child_client_order_id(parent_client_order_id: str, sequence: int) -> str:
    """The client order id of child ``sequence`` of a parent: ``f"{parent}-{sequence:03d}"``.

    A parent id too long for the result to fit in 48 characters keeps its first 28 characters and
    adds 15 hex digits of its SHA-256, so the id stays deterministic, readable and unique.
    """
    if not 1 <= sequence <= MAX_CHILDREN:
        raise InvalidInput(
            f"child sequence must be between 1 and {MAX_CHILDREN}, got {sequence}", field="sequence"
        )
    parent = parent_client_order_id
    room = MAX_CLIENT_ORDER_ID_LENGTH - _SEQUENCE_SUFFIX_LENGTH
    if len(parent) > room:
        digest = hashlib.sha256(parent.encode()).hexdigest()[:15]
        parent = f"{parent[: room - 16]}-{digest}"
    return f"{parent}-{sequence:03d}"


# Stylised intraday volume intensity over the regular session, x in [0, 1] (0 = open, 1 = close):
# a floor, a mild quadratic bowl, and exponential bursts after the open and into the close.
_FLOOR = 0.6
_BOWL = 1.0
_OPEN_BURST, _OPEN_DECAY = 1.0, 0.04
_CLOSE_BURST, _CLOSE_DECAY = 2.0, 0.03


def _cumulative_intensity(x: float) -> float:
    return (
        _FLOOR * x
        + _BOWL * ((2 * x - 1) ** 3 + 1) / 6
        + _OPEN_BURST * _OPEN_DECAY * (1 - math.exp(-x / _OPEN_DECAY))
        + _CLOSE_BURST
        * _CLOSE_DECAY
        * (math.exp(-(1 - x) / _CLOSE_DECAY) - math.exp(-1 / _CLOSE_DECAY))
    )


_DAY_INTENSITY = _cumulative_intensity(1.0)


def us_equity_volume_share(start_fraction: float, end_fraction: float) -> float:
    """Share of a day's volume traded between two points of the regular session.

    Parameters
    ----------
    start_fraction, end_fraction
        Points of the session as fractions of its length (0 = open, 1 = close); clipped to
        [0, 1].

    Returns
    -------
    float
        The share in [0, 1] under the stylised U-shaped profile (about 14% in the first half hour,
        16% in the last, 4-5% in a midday half hour; a shape, not a fit to data).
    """
    lo = min(max(start_fraction, 0.0), 1.0)
    hi = min(max(end_fraction, 0.0), 1.0)
    if hi <= lo:
        return 0.0
    return (_cumulative_intensity(hi) - _cumulative_intensity(lo)) / _DAY_INTENSITY


def us_equity_volume_profile(n_intervals: int) -> tuple[float, ...]:
    """The standard U-shaped intraday US equity volume profile over ``n_intervals`` equal intervals.

    Returns
    -------
    tuple of float
        Shape ``(n_intervals,)``: the share of the day's volume in each interval, summing to 1.
    """
    if n_intervals < 1:
        raise InvalidInput(
            f"n_intervals must be at least 1, got {n_intervals}", field="n_intervals"
        )
    return tuple(
        us_equity_volume_share(i / n_intervals, (i + 1) / n_intervals) for i in range(n_intervals)
    )


def _session_profile(times: Sequence[datetime]) -> list[float]:
    """Volume share of each interval [times[i], times[i+1]) within the regular session."""
    session = regular_session_for(times[0])
    opens, closes = session.opens_at, session.closes_at
    length = (closes - opens).total_seconds()

    def position(moment: datetime) -> float:
        return (moment - opens).total_seconds() / length

    return [
        us_equity_volume_share(position(times[i]), position(times[i + 1]))
        for i in range(len(times) - 1)
    ]


def _split_units(units: int, weights: Sequence[float | Fraction], remainder_to: int) -> list[int]:
    """Split ``units`` in proportion to ``weights``, rounding down; the leftover to one index."""
    exact = [Fraction(w) for w in weights]
    total = sum(exact, start=Fraction(0))
    parts = [math.floor(units * w / total) for w in exact]
    parts[remainder_to] += units - sum(parts)
    return parts


def _largest_index(weights: Sequence[float]) -> int:
    best = max(weights)
    return max(i for i, w in enumerate(weights) if w == best)


def _slice_count(
    *,
    start: datetime,
    end: datetime,
    n_slices: int | None,
    slice_interval: timedelta | None,
) -> int | None:
    if n_slices is not None and slice_interval is not None:
        raise InvalidInput("give n_slices or slice_interval, not both", field="n_slices")
    if n_slices is not None:
        if n_slices < 1:
            raise InvalidInput(f"n_slices must be at least 1, got {n_slices}", field="n_slices")
        return n_slices
    if slice_interval is not None:
        if slice_interval <= timedelta(0):
            raise InvalidInput(
                f"slice_interval must be positive, got {slice_interval}", field="slice_interval"
            )
        return math.ceil((end - start) / slice_interval)
    return None


def _schedule(start: datetime, end: datetime, n: int) -> list[datetime]:
    """n + 1 equally spaced boundaries from start to end."""
    step = (end - start) / n
    return [start + step * i for i in range(n)] + [end]


def plan_execution(
    order: OrderIntent,
    *,
    algo: ExecutionAlgo,
    start: datetime,
    end: datetime,
    n_slices: int | None = None,
    slice_interval: timedelta | None = None,
    volume_profile: Sequence[float] | None = None,
    display_quantity: Number | None = None,
    limit_price: Number | None = None,
    fractionable: bool = True,
) -> ExecutionPlan:
    """Slice ``order`` into child orders over [start, end].

    Parameters
    ----------
    order
        The parent order.
    algo
        Slicing algorithm (see the module docstring).
    start, end
        The window, timezone-aware; ``end`` after ``start`` for TWAP and VWAP, not before it for
        the others.
    n_slices, slice_interval
        Number of slices, or their spacing (the count is rounded up); one of them for TWAP, and
        for VWAP unless ``volume_profile`` gives the count.
    volume_profile
        VWAP only: non-negative weight per interval, shape ``(n_slices,)``; normalised here.
        Defaults to the U-shaped US equity profile over the regular session.
    display_quantity
        ICEBERG only: the visible size of each child, a positive multiple of the lot step.
    limit_price
        Limit for the children; defaults to the parent's. Required for LIMIT and ICEBERG; with
        TWAP and VWAP it makes every child a limit order.
    fractionable
        Whether the asset trades in fractions; otherwise children are whole shares.

    Returns
    -------
    ExecutionPlan
        Children with quantities summing exactly to ``order.quantity``, none zero.
    """
    require_aware(start, name="start")
    require_aware(end, name="end")
    try:
        algo = ExecutionAlgo(algo)
    except ValueError as exc:
        raise InvalidInput(f"unknown execution algo {algo!r}", field="algo") from exc
    if end < start:
        raise InvalidInput(
            f"end {end.isoformat()} is before start {start.isoformat()}", field="end"
        )
    if not is_lot_multiple(order.quantity, fractionable=fractionable):
        raise InvalidInput(
            f"quantity {order.quantity} of {order.symbol} is not a whole number of shares",
            field="quantity",
        )
    limit = (
        order.limit_price if limit_price is None else to_decimal(limit_price, name="limit_price")
    )
    if limit is not None and limit <= 0:
        raise InvalidInput(f"limit_price must be positive, got {limit}", field="limit_price")
    child_type = OrderType.LIMIT if limit is not None else OrderType.MARKET
    step = lot_step(fractionable=fractionable)
    units = int(order.quantity / step)
    if algo is not ExecutionAlgo.VWAP and volume_profile is not None:
        raise InvalidInput("volume_profile applies to VWAP only", field="volume_profile")
    if algo is not ExecutionAlgo.ICEBERG and display_quantity is not None:
        raise InvalidInput("display_quantity applies to ICEBERG only", field="display_quantity")

    def child(
        seq: int, at: datetime, qty_units: int, *, after_previous: bool = False
    ) -> ChildOrder:
        return ChildOrder(
            client_order_id=child_client_order_id(order.client_order_id, seq),
            sequence=seq,
            scheduled_at=at,
            quantity=(step * qty_units).quantize(QUANTITY_QUANT),
            order_type=child_type,
            limit_price=limit if child_type is OrderType.LIMIT else None,
            after_previous_fill=after_previous,
        )

    def plan(children: list[ChildOrder], profile: Sequence[float] = ()) -> ExecutionPlan:
        return ExecutionPlan(order, algo, start, end, tuple(children), tuple(profile))

    if algo is ExecutionAlgo.MARKET:
        if order.order_type is OrderType.LIMIT or limit_price is not None:
            raise InvalidInput(
                "the MARKET algo sends a market order; use LIMIT for a limit price",
                field="algo",
            )
        return plan([child(1, start, units)])

    if algo is ExecutionAlgo.LIMIT:
        if limit is None:
            raise InvalidInput("the LIMIT algo needs a limit_price", field="limit_price")
        return plan([child(1, start, units)])

    if algo is ExecutionAlgo.ICEBERG:
        if limit is None:
            raise InvalidInput("the ICEBERG algo needs a limit_price", field="limit_price")
        if display_quantity is None:
            raise InvalidInput(
                "the ICEBERG algo needs a display_quantity", field="display_quantity"
            )
        display = to_decimal(display_quantity, name="display_quantity")
        if display <= 0 or not is_lot_multiple(display, fractionable=fractionable):
            raise InvalidInput(
                f"display_quantity must be a positive multiple of {step.normalize():f}, got "
                f"{display}",
                field="display_quantity",
            )
        display_units = int(display / step)
        count = math.ceil(units / display_units)
        if count > MAX_CHILDREN:
            raise InvalidInput(
                f"display_quantity {display} would make {count} children, more than {MAX_CHILDREN}",
                field="display_quantity",
            )
        sizes = [display_units] * (count - 1) + [units - display_units * (count - 1)]
        return plan(
            [child(i + 1, start, size, after_previous=i > 0) for i, size in enumerate(sizes)]
        )

    if end <= start:
        raise InvalidInput(f"{algo.upper()} needs end after start", field="end")
    requested = _slice_count(start=start, end=end, n_slices=n_slices, slice_interval=slice_interval)

    if algo is ExecutionAlgo.TWAP:
        if requested is None:
            raise InvalidInput("TWAP needs n_slices or slice_interval", field="n_slices")
        if requested > MAX_CHILDREN:
            raise InvalidInput(f"{requested} slices is more than {MAX_CHILDREN}", field="n_slices")
        count = min(requested, units)
        times = _schedule(start, end, count)
        sizes = _split_units(units, [1.0] * count, remainder_to=count - 1)
        return plan([child(i + 1, times[i], size) for i, size in enumerate(sizes)])

    # VWAP
    if volume_profile is not None:
        profile = [float(w) for w in volume_profile]
        if not profile:
            raise InvalidInput("volume_profile is empty", field="volume_profile")
        if requested is not None and requested != len(profile):
            raise InvalidInput(
                f"volume_profile has {len(profile)} intervals but {requested} slices were asked "
                "for",
                field="volume_profile",
            )
        if any(not math.isfinite(w) or w < 0 for w in profile):
            raise InvalidInput(
                "volume_profile weights must be finite and non-negative", field="volume_profile"
            )
        count = len(profile)
    elif requested is None:
        raise InvalidInput(
            "VWAP needs n_slices, slice_interval or a volume_profile", field="n_slices"
        )
    else:
        count = requested
    if count > MAX_CHILDREN:
        raise InvalidInput(f"{count} slices is more than {MAX_CHILDREN}", field="n_slices")
    times = _schedule(start, end, count)
    if volume_profile is None:
        profile = _session_profile(times)
    weight_sum = sum(profile)
    if weight_sum <= 0:
        raise InvalidInput(
            "the volume profile has no volume in the window (outside the regular session?); "
            "pass volume_profile",
            field="volume_profile",
        )
    normalised = [w / weight_sum for w in profile]
    sizes = _split_units(units, profile, remainder_to=_largest_index(profile))
    children: list[ChildOrder] = []
    for i, size in enumerate(sizes):
        if size > 0:
            children.append(child(len(children) + 1, times[i], size))
    return plan(children, normalised)
