"""Seeded synthetic market data for the detector tests."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
from scipy.signal import lfilter

START = datetime(2021, 1, 4, tzinfo=UTC)


def days(count: int, start: datetime = START) -> pd.DatetimeIndex:
    return pd.date_range(start, periods=count, freq="D")


def random_walk_prices(
    count: int, *, seed: int, volatility: float = 0.01, start_price: float = 100.0
) -> pd.Series:
    rng = np.random.default_rng(seed)
    log_price = np.log(start_price) + np.cumsum(rng.normal(0.0, volatility, count))
    return pd.Series(np.exp(log_price), index=days(count))


def ar1(count: int, *, slope: float, noise: float, seed: int, mean: float = 0.0) -> np.ndarray:
    """``x_t = mean + slope (x_t-1 - mean) + noise * e_t``, started at the mean."""
    rng = np.random.default_rng(seed)
    shocks = noise * rng.normal(size=count)
    return mean + lfilter([1.0], [1.0, -slope], shocks)


def ohlc_bars(close: pd.Series, *, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    spread = np.abs(rng.normal(0.0, 0.01, len(close))) * close.to_numpy()
    return pd.DataFrame(
        {"high": close + spread, "low": close - spread * 0.8, "close": close}, index=close.index
    )


def order_book(count: int, *, seed: int, levels: int = 3) -> pd.DataFrame:
    """Snapshots of a book that ticks around 100 with random sizes, one per second."""
    rng = np.random.default_rng(seed)
    tick = 0.01
    best_bid = 100.0 + tick * np.cumsum(rng.integers(-1, 2, count))
    spread = tick * rng.integers(1, 3, count)
    columns = {}
    for m in range(1, levels + 1):
        columns[f"bid_price_{m}"] = best_bid - tick * (m - 1)
        columns[f"bid_size_{m}"] = rng.integers(1, 500, count).astype(float)
        columns[f"ask_price_{m}"] = best_bid + spread + tick * (m - 1)
        columns[f"ask_size_{m}"] = rng.integers(1, 500, count).astype(float)
    index = pd.date_range(START, periods=count, freq="s")
    return pd.DataFrame(columns, index=index)
