"""Order-book signals: depth imbalance, order-flow imbalance (OFI) and the microprice.

A *book* is a DataFrame of snapshots indexed by timestamp (sorted; several snapshots may share a
timestamp) with columns ``bid_price_{m}``, ``bid_size_{m}``, ``ask_price_{m}`` and
``ask_size_{m}`` for levels ``m = 1 .. L`` (1 is the top of the book).

Order-flow imbalance follows Cont, Kukanov and Stoikov (2014), "The price impact of order book
events": between consecutive snapshots n-1 and n the event contributes

    e_n = 1{Pb_n >= Pb_n-1} qb_n - 1{Pb_n <= Pb_n-1} qb_n-1
          - 1{Pa_n <= Pa_n-1} qa_n + 1{Pa_n >= Pa_n-1} qa_n-1,

positive when buying pressure grows (bids added or raised, asks taken or lifted), and OFI over a
window is the sum of the e_n in it. The multi-level version computes the same quantity at each
level m (Xu, Varma and Kearns 2019) and combines the levels with weights.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TypeVar

import numpy as np
import pandas as pd

from portfolios.core.errors import InvalidInput
from signals.core.timeseries import require_frame, to_datetime, up_to
from signals.core.types import Signal, SignalKind

Quote = TypeVar("Quote", float, np.ndarray, pd.Series)


def level_weights(levels: int, *, decay: float = 0.5) -> np.ndarray:
    """Weights ``exp(-decay * (m - 1))`` for levels ``m = 1 .. levels``: the top level counts most.

    Returns
    -------
    np.ndarray, shape (levels,)
    """
    if isinstance(levels, bool) or not isinstance(levels, int) or levels < 1:
        raise InvalidInput(f"levels must be a whole number >= 1, got {levels!r}", field="levels")
    if not (math.isfinite(decay) and decay >= 0):
        raise InvalidInput(f"decay must be non-negative, got {decay!r}", field="decay")
    return np.exp(-decay * np.arange(levels, dtype="float64"))


def _weights(weights: Sequence[float] | np.ndarray | None, levels: int) -> np.ndarray:
    if weights is None:
        return level_weights(levels)
    array = np.asarray(weights, dtype="float64")
    if array.shape != (levels,):
        raise InvalidInput(
            f"weights must have one entry per level ({levels}), got shape {array.shape}",
            field="weights",
        )
    if not np.isfinite(array).all() or (array < 0).any() or array.sum() <= 0:
        raise InvalidInput("weights must be non-negative, finite and not all zero", field="weights")
    return array


def depth_imbalance(
    bid_sizes: Sequence[float] | np.ndarray,
    ask_sizes: Sequence[float] | np.ndarray,
    weights: Sequence[float] | np.ndarray | None = None,
) -> np.ndarray:
    """Weighted depth imbalance ``(sum w qb - sum w qa) / (sum w qb + sum w qa)``, in [-1, 1].

    Parameters
    ----------
    bid_sizes, ask_sizes : array, shape (L,) or (T, L)
        Resting quantity at each level (level 1 first), for one snapshot or T of them.
    weights : array, shape (L,), optional
        Level weights; :func:`level_weights` by default.

    Returns
    -------
    np.ndarray, shape () or (T,)
        Positive when more is bid than offered.
    """
    bids = np.asarray(bid_sizes, dtype="float64")
    asks = np.asarray(ask_sizes, dtype="float64")
    if bids.shape != asks.shape or bids.ndim not in (1, 2) or bids.shape[-1] == 0:
        raise InvalidInput(
            f"bid and ask sizes must have the same shape (L,) or (T, L), got {bids.shape} "
            f"and {asks.shape}",
            field="bid_sizes",
        )
    if not (np.isfinite(bids).all() and np.isfinite(asks).all()):
        raise InvalidInput("book sizes must be finite", field="bid_sizes")
    if (bids < 0).any() or (asks < 0).any():
        raise InvalidInput("book sizes cannot be negative", field="bid_sizes")
    w = _weights(weights, bids.shape[-1])
    bid_depth = bids @ w
    ask_depth = asks @ w
    total = bid_depth + ask_depth
    if np.any(total <= 0):
        raise InvalidInput(
            "the book is empty on both sides: imbalance undefined", field="bid_sizes"
        )
    return np.asarray((bid_depth - ask_depth) / total)


def microprice(bid_price: Quote, bid_size: Quote, ask_price: Quote, ask_size: Quote) -> Quote:
    """Size-weighted mid ``(Pb qa + Pa qb) / (qb + qa)``: leans toward the side that is thinner,
    where the next trade is more likely to move the price.

    Works element-wise on floats, numpy arrays and aligned pandas Series.
    """
    total = bid_size + ask_size
    if np.any(np.asarray(total) <= 0):
        raise InvalidInput("microprice needs some size on the book", field="bid_size")
    return (bid_price * ask_size + ask_price * bid_size) / total  # type: ignore[no-any-return]


def book_levels(book: pd.DataFrame) -> int:
    """How many consecutive levels (from 1) ``book`` has all four columns for."""
    levels = 0
    while all(
        f"{side}_{field}_{levels + 1}" in book.columns
        for side in ("bid", "ask")
        for field in ("price", "size")
    ):
        levels += 1
    if levels == 0:
        raise InvalidInput(
            "book needs columns bid_price_1, bid_size_1, ask_price_1, ask_size_1", field="book"
        )
    return levels


def _book_columns(levels: int) -> list[str]:
    return [
        f"{side}_{field}_{m}"
        for m in range(1, levels + 1)
        for side in ("bid", "ask")
        for field in ("price", "size")
    ]


def require_book(book: pd.DataFrame, levels: int | None = None) -> tuple[pd.DataFrame, int]:
    """Check a book and return it (float columns of the first ``levels`` levels) and ``levels``."""
    available = book_levels(book) if isinstance(book, pd.DataFrame) else 0
    if levels is None:
        levels = available
    if isinstance(levels, bool) or not isinstance(levels, int) or not 1 <= levels <= available:
        raise InvalidInput(
            f"levels must be between 1 and the book's {available}, got {levels!r}", field="levels"
        )
    frame = require_frame(book, name="book", columns=_book_columns(levels), unique_index=False)
    prices = frame[[c for c in frame.columns if "_price_" in c]].to_numpy()
    sizes = frame[[c for c in frame.columns if "_size_" in c]].to_numpy()
    if (prices <= 0).any():
        raise InvalidInput("book prices must be positive", field="book")
    if (sizes < 0).any():
        raise InvalidInput("book sizes cannot be negative", field="book")
    crossed = frame["bid_price_1"] > frame["ask_price_1"]
    if crossed.any():
        raise InvalidInput(
            f"book is crossed (best bid above best ask) at {frame.index[crossed][0]}", field="book"
        )
    return frame, levels


def _sizes(book: pd.DataFrame, side: str, levels: int) -> np.ndarray:
    return book[[f"{side}_size_{m}" for m in range(1, levels + 1)]].to_numpy()


def book_depth_imbalance(
    book: pd.DataFrame,
    *,
    levels: int | None = None,
    weights: Sequence[float] | np.ndarray | None = None,
) -> pd.Series:
    """Weighted depth imbalance of every snapshot of ``book`` (see :func:`depth_imbalance`).

    Returns
    -------
    pd.Series, shape (T,)
    """
    book, levels = require_book(book, levels)
    values = depth_imbalance(_sizes(book, "bid", levels), _sizes(book, "ask", levels), weights)
    return pd.Series(values, index=book.index, name="depth_imbalance")


def book_microprice(book: pd.DataFrame) -> pd.Series:
    """The microprice of every snapshot of ``book``, from its top level.

    Returns
    -------
    pd.Series, shape (T,)
    """
    book, _ = require_book(book, 1)
    return microprice(
        book["bid_price_1"], book["bid_size_1"], book["ask_price_1"], book["ask_size_1"]
    ).rename("microprice")


def order_flow_events(book: pd.DataFrame, *, levels: int = 1) -> pd.DataFrame:
    """The order-flow contribution ``e_n`` of each book update, per level.

    Parameters
    ----------
    book : pd.DataFrame, shape (T, >=4 L)
    levels : int
        Levels to compute (1: Cont-Kukanov-Stoikov's OFI).

    Returns
    -------
    pd.DataFrame, shape (T, levels)
        Columns ``level_1 .. level_L``; the first snapshot, having no predecessor, contributes 0.
    """
    book, levels = require_book(book, levels)
    columns = {}
    for m in range(1, levels + 1):
        bid_price = book[f"bid_price_{m}"].to_numpy()
        bid_size = book[f"bid_size_{m}"].to_numpy()
        ask_price = book[f"ask_price_{m}"].to_numpy()
        ask_size = book[f"ask_size_{m}"].to_numpy()
        event = np.zeros(len(book))
        if len(book) > 1:
            bid_up = bid_price[1:] >= bid_price[:-1]
            bid_down = bid_price[1:] <= bid_price[:-1]
            ask_down = ask_price[1:] <= ask_price[:-1]
            ask_up = ask_price[1:] >= ask_price[:-1]
            event[1:] = (
                bid_up * bid_size[1:]
                - bid_down * bid_size[:-1]
                - ask_down * ask_size[1:]
                + ask_up * ask_size[:-1]
            )
        columns[f"level_{m}"] = event
    return pd.DataFrame(columns, index=book.index)


def order_flow_imbalance(
    book: pd.DataFrame,
    *,
    window: int | str | timedelta,
    levels: int = 1,
    weights: Sequence[float] | np.ndarray | None = None,
) -> pd.DataFrame:
    """Order-flow imbalance summed over a trailing window of updates, per level and combined.

    Parameters
    ----------
    book : pd.DataFrame, shape (T, >=4 L)
    window : int, str or timedelta
        The last ``window`` updates (an int), or the updates in the trailing period (a pandas
        offset such as ``"10s"`` or a ``timedelta``), ending at each row.
    levels : int
        Levels to include (1: Cont-Kukanov-Stoikov; more: multi-level OFI).
    weights : array, shape (levels,), optional
        How the levels combine; :func:`level_weights` by default.

    Returns
    -------
    pd.DataFrame, shape (T, levels + 3)
        ``level_1 .. level_L`` (OFI per level), ``ofi`` (their weighted sum, weights scaled to sum
        to 1), ``depth`` (mean top-of-book depth ``(qb + qa) / 2`` over the window) and
        ``normalised_ofi`` (``ofi / depth``: net flow in average queue sizes).
    """
    book, levels = require_book(book, levels)
    if isinstance(window, bool) or (isinstance(window, int) and window < 1):
        raise InvalidInput(f"window must be at least one update, got {window!r}", field="window")
    if isinstance(window, int):
        rolling_window: int | str | pd.Timedelta = window
    else:
        try:
            rolling_window = pd.Timedelta(window)
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"window is not a period: {window!r}", field="window") from exc
        if rolling_window <= pd.Timedelta(0):
            raise InvalidInput(f"window must be a positive period, got {window!r}", field="window")
    w = _weights(weights, levels)
    w = w / w.sum()
    events = order_flow_events(book, levels=levels)
    per_level = events.rolling(rolling_window, min_periods=1).sum()
    total = per_level.to_numpy() @ w
    depth = (
        ((book["bid_size_1"] + book["ask_size_1"]) / 2.0)
        .rolling(rolling_window, min_periods=1)
        .mean()
    )
    result = per_level.copy()
    result["ofi"] = total
    result["depth"] = depth.to_numpy()
    result["normalised_ofi"] = result["ofi"] / result["depth"].where(result["depth"] > 0)
    result["normalised_ofi"] = result["normalised_ofi"].fillna(0.0)
    return result


def depth_imbalance_signal(
    book: pd.DataFrame,
    *,
    asset: str,
    as_of: datetime,
    levels: int | None = None,
    weights: Sequence[float] | np.ndarray | None = None,
) -> Signal:
    """The weighted depth imbalance of the last snapshot at or before ``as_of``.

    ``value`` in [-1, 1] (positive: more bid than offered, the price is expected to rise);
    confidence ``|value|``.
    """
    book, levels = require_book(book, levels)
    book = up_to(book, as_of, name="book")
    last = book.iloc[[-1]]
    value = float(
        depth_imbalance(_sizes(last, "bid", levels), _sizes(last, "ask", levels), weights)[0]
    )
    stamp = to_datetime(book.index[-1])
    return Signal(
        asset=asset,
        kind=SignalKind.DEPTH_IMBALANCE,
        value=value,
        confidence=min(1.0, abs(value)),
        as_of=as_of,
        window_start=stamp,
        window_end=stamp,
        details={"levels": levels},
    )


def microprice_signal(book: pd.DataFrame, *, asset: str, as_of: datetime) -> Signal:
    """The microprice's lean away from the mid at the last snapshot at or before ``as_of``.

    ``value = (microprice - mid) / mid`` (positive: the price is expected to tick up); confidence
    is the top-level imbalance ``|qb - qa| / (qb + qa)``, which is the lean in half-spreads.
    """
    book, _ = require_book(book, 1)
    book = up_to(book, as_of, name="book")
    last = book.iloc[-1]
    bid, ask = float(last["bid_price_1"]), float(last["ask_price_1"])
    bid_size, ask_size = float(last["bid_size_1"]), float(last["ask_size_1"])
    micro = microprice(bid, bid_size, ask, ask_size)
    mid = (bid + ask) / 2.0
    stamp = to_datetime(book.index[-1])
    return Signal(
        asset=asset,
        kind=SignalKind.MICROPRICE,
        value=(micro - mid) / mid,
        confidence=min(1.0, abs(bid_size - ask_size) / (bid_size + ask_size)),
        as_of=as_of,
        window_start=stamp,
        window_end=stamp,
        details={"microprice": micro, "mid": mid, "spread": ask - bid},
    )


def order_flow_imbalance_signal(
    book: pd.DataFrame,
    *,
    asset: str,
    as_of: datetime,
    window: int | str | timedelta,
    levels: int = 1,
    weights: Sequence[float] | np.ndarray | None = None,
) -> Signal:
    """Order-flow imbalance over the window ending at the last update at or before ``as_of``.

    ``value`` is the OFI in average top-of-book queue sizes (positive: net buying pressure);
    confidence ``tanh(|value|)``. See :func:`order_flow_imbalance` for the parameters.
    """
    book, levels = require_book(book, levels)
    book = up_to(book, as_of, name="book")
    table = order_flow_imbalance(book, window=window, levels=levels, weights=weights)
    last = table.iloc[-1]
    end = book.index[-1]
    if isinstance(window, int):
        first = max(0, len(book) - window - 1)
    else:
        inside = book.index > end - pd.Timedelta(window)
        first = max(0, int(inside.argmax()) - 1)
    value = float(last["normalised_ofi"])
    return Signal(
        asset=asset,
        kind=SignalKind.ORDER_FLOW_IMBALANCE,
        value=value,
        confidence=math.tanh(abs(value)),
        as_of=as_of,
        window_start=to_datetime(book.index[first]),
        window_end=to_datetime(end),
        details={
            "ofi": float(last["ofi"]),
            "depth": float(last["depth"]),
            "levels": levels,
            "per_level": tuple(float(last[f"level_{m}"]) for m in range(1, levels + 1)),
        },
    )
