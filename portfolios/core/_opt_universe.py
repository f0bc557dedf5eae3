"""The asset universe of one optimisation: its size, its symbols, and how inputs align to it.

Private helper of :mod:`portfolios.core.optimize`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from portfolios.core.errors import InvalidInput


@dataclass(frozen=True)
class Universe:
    """``n`` assets, labelled by ``symbols`` when the inputs were pandas objects."""

    n: int
    symbols: tuple[str, ...] | None

    def label(self, i: int) -> str:
        return self.symbols[i] if self.symbols is not None else f"asset {i}"

    def labels(self, idx: np.ndarray | Sequence[int], limit: int = 8) -> str:
        names = [self.label(int(i)) for i in idx]
        if len(names) > limit:
            return ", ".join(names[:limit]) + f" and {len(names) - limit} more"
        return ", ".join(names)

    @cached_property
    def index(self) -> pd.Index:
        return pd.Index(list(self.symbols or ()), dtype=object)

    def vector_out(self, values: np.ndarray) -> pd.Series | np.ndarray:
        if self.symbols is None:
            return values
        return pd.Series(values, index=self.index, dtype=float, copy=False)

    def matrix_out(self, values: np.ndarray) -> pd.DataFrame | np.ndarray:
        if self.symbols is None:
            return values
        return pd.DataFrame(values, index=self.index, columns=self.index, dtype=float)

    @cached_property
    def _positions(self) -> dict[str, int]:
        return {s: i for i, s in enumerate(self.symbols or ())}

    def position(self) -> dict[str, int]:
        return self._positions


def check_scalar(
    value: Any, name: str, *, low: float | None = None, high: float | None = None
) -> float:
    """A finite float within ``[low, high]``, or an :class:`InvalidInput` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise InvalidInput(f"{name} must be a number, got {type(value).__name__}", field=name)
    x = float(value)
    if not math.isfinite(x):
        raise InvalidInput(f"{name} must be finite, got {value!r}", field=name)
    if low is not None and x < low:
        raise InvalidInput(f"{name} must be at least {low:g}, got {x:g}", field=name)
    if high is not None and x > high:
        raise InvalidInput(f"{name} must be at most {high:g}, got {x:g}", field=name)
    return x


def per_asset(
    value: Any,
    universe: Universe,
    name: str,
    *,
    default: float,
    allow_nan: bool = False,
) -> np.ndarray:
    """Broadcast a scalar, or align a per-asset vector or mapping, to the universe's order.

    A ``Series`` or mapping is matched by symbol (assets it omits get ``default``; symbols the
    universe lacks are an error); an array or sequence must have one entry per asset.
    """
    n = universe.n
    if isinstance(value, bool):
        raise InvalidInput(f"{name} must be a number or one value per asset", field=name)
    if isinstance(value, int | float | np.integer | np.floating):
        x = float(value)
        if not math.isfinite(x):
            raise InvalidInput(f"{name} must be finite, got {value!r}", field=name)
        return np.full(n, x)
    if isinstance(value, pd.Series | Mapping):
        if universe.symbols is None:
            raise InvalidInput(
                f"{name} is given by symbol but the inputs have no symbols; pass pandas objects "
                "(a Series of expected returns or a DataFrame covariance) or a plain array",
                field=name,
            )
        items = value.items()
        pos = universe.position()
        out = np.full(n, default, dtype=float)
        unknown: list[str] = []
        for key, v in items:
            i = pos.get(str(key))
            if i is None:
                unknown.append(str(key))
                continue
            try:
                out[i] = float(v)
            except (TypeError, ValueError) as exc:
                raise InvalidInput(f"{name} for {key} must be a number", field=name) from exc
        if unknown:
            raise InvalidInput(
                f"{name} names symbols outside the universe: {', '.join(sorted(unknown)[:8])}",
                field=name,
            )
    else:
        try:
            arr = np.asarray(value, dtype=float)
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"{name} must be numeric", field=name) from exc
        if arr.shape != (n,):
            raise InvalidInput(
                f"{name} must be a number or have one entry per asset ({n}), "
                f"got shape {np.shape(value)}",
                field=name,
            )
        out = arr.copy()
    bad = ~np.isfinite(out) if not allow_nan else np.isinf(out)
    if bad.any():
        raise InvalidInput(
            f"{name} is not finite for {universe.labels(np.flatnonzero(bad))}", field=name
        )
    return out


def asset_mask(value: Any, universe: Universe, name: str, *, ignore_unknown: bool) -> np.ndarray:
    """A boolean mask from a boolean array/Series or a collection of symbols."""
    n = universe.n
    if value is None:
        return np.zeros(n, dtype=bool)
    if isinstance(value, pd.Series) and value.dtype == bool:
        if universe.symbols is None:
            raise InvalidInput(
                f"{name} is given by symbol but the inputs have no symbols", field=name
            )
        aligned = value.reindex(list(universe.symbols))
        return np.asarray(aligned.fillna(False).to_numpy(dtype=bool))
    if isinstance(value, np.ndarray) and value.dtype == bool:
        if value.shape != (n,):
            raise InvalidInput(
                f"{name} mask must have one entry per asset ({n}), got shape {value.shape}",
                field=name,
            )
        return value.copy()
    if isinstance(value, str):
        value = [value]
    if isinstance(value, Sequence | set | frozenset | pd.Index | np.ndarray):
        items = [str(s) for s in value]
        mask = np.zeros(n, dtype=bool)
        if not items:
            return mask
        if universe.symbols is None:
            raise InvalidInput(
                f"{name} is given by symbol but the inputs have no symbols; use a boolean mask",
                field=name,
            )
        pos = universe.position()
        unknown = [s for s in items if s not in pos]
        if unknown and not ignore_unknown:
            raise InvalidInput(
                f"{name} names symbols outside the universe: {', '.join(sorted(unknown)[:8])}",
                field=name,
            )
        for s in items:
            if s in pos:
                mask[pos[s]] = True
        return mask
    raise InvalidInput(
        f"{name} must be a boolean mask or a collection of symbols, got {type(value).__name__}",
        field=name,
    )
