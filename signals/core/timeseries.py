"""Checks and cuts shared by the detectors: timestamped inputs, and nothing after ``as_of``.

Every detector that is given an ``as_of`` cuts its inputs here with :func:`up_to` before looking at
them, whatever the caller passed: the value at time t only ever uses rows stamped at or before t.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TypeVar

import numpy as np
import pandas as pd

from portfolios.core.errors import InvalidInput

Data = TypeVar("Data", pd.Series, pd.DataFrame)


def require_aware(as_of: datetime, *, name: str = "as_of") -> pd.Timestamp:
    """``as_of`` as a pandas ``Timestamp``, refusing naive datetimes."""
    if not isinstance(as_of, datetime):
        raise InvalidInput(f"{name} must be a datetime, got {type(as_of).__name__}", field=name)
    stamp = pd.Timestamp(as_of)
    if stamp.tzinfo is None:
        raise InvalidInput(f"{name} must be timezone-aware, got naive {as_of!r}", field=name)
    return stamp


def _require_time_index(index: pd.Index, *, name: str, unique: bool = True) -> None:
    if not isinstance(index, pd.DatetimeIndex):
        raise InvalidInput(
            f"{name} must be indexed by timestamp, got a {type(index).__name__}", field=name
        )
    if index.tz is None:
        raise InvalidInput(f"{name} must have a timezone-aware (UTC) index", field=name)
    if not index.is_monotonic_increasing:
        raise InvalidInput(f"{name} must be sorted by time", field=name)
    if unique and not index.is_unique:
        duplicated = index[index.duplicated()][0]
        raise InvalidInput(f"{name} has more than one row at {duplicated}", field=name)


def require_series(
    data: pd.Series, *, name: str, positive: bool = False, min_length: int = 1
) -> pd.Series:
    """Check a float series indexed by aware, increasing, unique timestamps; return it as float64.

    Raises :class:`InvalidInput` on a missing or non-finite value, a non-positive value where
    ``positive`` is asked for, or fewer than ``min_length`` rows.
    """
    if not isinstance(data, pd.Series):
        raise InvalidInput(f"{name} must be a pandas Series, got {type(data).__name__}", field=name)
    _require_time_index(data.index, name=name)
    try:
        values = data.astype("float64")
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{name} must hold numbers", field=name) from exc
    array = values.to_numpy()
    bad = ~np.isfinite(array)
    if bad.any():
        raise InvalidInput(
            f"{name} has a missing or infinite value at {values.index[bad.argmax()]}", field=name
        )
    if positive and (array <= 0).any():
        raise InvalidInput(
            f"{name} must be positive, got {array[array <= 0][0]!r} at "
            f"{values.index[(array <= 0).argmax()]}",
            field=name,
        )
    if len(values) < min_length:
        raise InvalidInput(
            f"{name} needs at least {min_length} rows, got {len(values)}", field=name
        )
    return values


def require_frame(
    data: pd.DataFrame,
    *,
    name: str,
    columns: Sequence[str],
    unique_index: bool = True,
    min_length: int = 1,
) -> pd.DataFrame:
    """Check a frame indexed by aware, sorted timestamps holding finite numeric ``columns``."""
    if not isinstance(data, pd.DataFrame):
        raise InvalidInput(
            f"{name} must be a pandas DataFrame, got {type(data).__name__}", field=name
        )
    _require_time_index(data.index, name=name, unique=unique_index)
    missing = [column for column in columns if column not in data.columns]
    if missing:
        raise InvalidInput(f"{name} lacks the columns {', '.join(missing)}", field=name)
    try:
        numbers = data[list(columns)].astype("float64")
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{name} must hold numbers in {', '.join(columns)}", field=name) from exc
    array = numbers.to_numpy()
    bad = ~np.isfinite(array)
    if bad.any():
        row, column = np.argwhere(bad)[0]
        raise InvalidInput(
            f"{name} has a missing or infinite {columns[column]} at {numbers.index[row]}",
            field=name,
        )
    if len(numbers) < min_length:
        raise InvalidInput(
            f"{name} needs at least {min_length} rows, got {len(numbers)}", field=name
        )
    return numbers


def up_to(data: Data, as_of: datetime, *, name: str = "data") -> Data:
    """The rows of ``data`` stamped at or before ``as_of``; raises if none are left."""
    stamp = require_aware(as_of)
    cut = data.loc[data.index <= stamp]
    if cut.empty:
        raise InvalidInput(f"{name} has no rows at or before {stamp}", field=name)
    return cut


def to_datetime(stamp: pd.Timestamp | datetime) -> datetime:
    """A plain aware ``datetime`` for a pandas timestamp, as signals carry."""
    return pd.Timestamp(stamp).to_pydatetime(warn=False)


def require_window(window: int, *, name: str = "window", minimum: int = 2) -> int:
    """A whole number of rows of at least ``minimum``."""
    if isinstance(window, bool) or not isinstance(window, int | np.integer) or window < minimum:
        raise InvalidInput(
            f"{name} must be a whole number >= {minimum}, got {window!r}", field=name
        )
    return int(window)
